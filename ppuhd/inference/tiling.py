"""Tiled inference in bounded memory, for any callable ``fn(tiles) -> outputs`` on numpy arrays.

The core (:func:`tiled_predict`) never holds more than ``batch_size`` tiles of model input
and output at once; the only full-size arrays are the padded input, the output accumulator
(``C' x H*s x W*s`` float32) and one ``H*s x W*s`` weight map. ``fn`` takes
``float32 [N, C, h, w]`` and returns ``[N, C', h*s, w*s]`` (``s`` is found from the first
call), so a dygraph model (:func:`paddle_tile_fn`) and a Paddle Inference predictor
(deploy) share it.

Blending: ``'average'`` is the official LLFormer ``test_UHD.py`` (``patches_to_image``:
sum of overlapping outputs divided by their count). ``'cosine'`` weights each tile with a
separable raised-cosine ramp over the overlap (flat inside, full weight at the image border),
which removes the seams a per-tile bias (e.g. LLFormer's image-global LAM) leaves.

Preset ``official_uhd`` is ``test_UHD.py`` exactly: reflect pad to 16, 720x1280 tiles,
stride 360x640, average, clamp to [0, 1] after blending, crop back.
"""
import copy
import math
from dataclasses import dataclass, fields
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .contract import PAD_MODES, ImageIO
from .padding import pad_image

TileFn = Callable[[np.ndarray], np.ndarray]
BLENDS = ('average', 'cosine')

PRESETS: Dict[str, dict] = {
    # LLFormer test_UHD.py: mul = 16, patch_size = 720, 1280, stride = 720 // 2, 1280 // 2,
    # patches.split(1), counts average, torch.clamp(restored, 0, 1).
    'official_uhd': dict(tile=(720, 1280), stride=(360, 640), blend='average', batch_size=1,
                         size_multiple=16, clamp=(0.0, 1.0)),
}


def _pair(value, name: str) -> Optional[Tuple[int, int]]:
    if value is None:
        return None
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in pair):
        raise ValueError(f'tiling.{name} must be a positive int or [h, w] of positive ints, got {value!r}')
    return int(pair[0]), int(pair[1])


@dataclass
class TilingConfig:
    """How an image is split, run and blended back.

    Args:
        tile: tile size (h, w) or one int; ``None`` runs the whole (padded) image at once.
            A tile larger than the padded image shrinks to it.
        stride: step between tile corners (h, w); defaults to ``tile - overlap``.
        overlap: overlap (h, w) between neighbouring tiles when ``stride`` is not given.
        blend: ``'average'`` (official) or ``'cosine'`` (seam-free ramp weights).
        batch_size: tiles per ``fn`` call.
        size_multiple: the padded image's H, W are multiples of this (reflect padding).
        pad_mode: ``'reflect'`` (official), ``'symmetric'`` or ``'replicate'`` (:mod:`ppuhd.inference.padding`).
        clamp: clip the blended output to ``(lo, hi)``; ``None`` keeps it raw.
        progress: show a tqdm bar; ``None`` shows it from 16 tiles on.
    """
    tile: Optional[Tuple[int, int]] = None
    stride: Optional[Tuple[int, int]] = None
    overlap: Tuple[int, int] = (32, 32)
    blend: str = 'cosine'
    batch_size: int = 1
    size_multiple: int = 1
    pad_mode: str = 'reflect'
    clamp: Optional[Tuple[float, float]] = None
    progress: Optional[bool] = None

    def __post_init__(self):
        self.tile = _pair(self.tile, 'tile')
        self.stride = _pair(self.stride, 'stride')
        self.overlap = tuple(int(v) for v in ((self.overlap,) * 2 if np.isscalar(self.overlap) else self.overlap))
        if self.blend not in BLENDS:
            raise ValueError(f'tiling.blend must be one of {BLENDS}, got {self.blend!r}')
        if self.pad_mode not in PAD_MODES:
            raise ValueError(f'tiling.pad_mode must be one of {PAD_MODES}, got {self.pad_mode!r}')
        if int(self.batch_size) < 1 or int(self.size_multiple) < 1:
            raise ValueError('tiling.batch_size and tiling.size_multiple must be >= 1')
        if self.clamp is not None:
            self.clamp = (float(self.clamp[0]), float(self.clamp[1]))
        if self.tile is not None and self.stride is None:
            self.stride = tuple(max(1, t - o) for t, o in zip(self.tile, self.overlap))
        if self.tile is not None and any(s > t for s, t in zip(self.stride, self.tile)):
            raise ValueError(f'tiling.stride {self.stride} is larger than tiling.tile {self.tile}: '
                             'pixels between tiles would get no output')


def make_tiling(cfg, image_io: Optional[ImageIO] = None) -> Optional[TilingConfig]:
    """A :class:`TilingConfig` from a config dict (``{preset: official_uhd, **overrides}`` or plain keys).

    ``None`` (whole-image mode without tiling) stays ``None``. The model's ``image_io`` gives the
    size multiple (1 when the model pads itself) and pad mode when the config does not set them.
    """
    if cfg is None or isinstance(cfg, TilingConfig):
        return cfg
    if isinstance(cfg, str):
        cfg = {'preset': cfg}
    if not isinstance(cfg, dict):
        raise ValueError(f'task.tiling must be null, a preset name or a dict, got {cfg!r}')
    cfg = copy.deepcopy(cfg)
    preset = cfg.pop('preset', None)
    if preset is not None and preset not in PRESETS:
        raise KeyError(f'Unknown tiling preset {preset!r} (task.tiling.preset); available: {sorted(PRESETS)}')
    image_io = image_io or ImageIO()
    # a model that pads itself gets its tiles as they are (pre-padding would move the image border it pads)
    multiple = 1 if image_io.pads_itself else image_io.size_multiple
    merged = {'size_multiple': multiple, 'pad_mode': image_io.pad_mode, **PRESETS.get(preset, {}), **cfg}
    known = {f.name for f in fields(TilingConfig)}
    unknown = sorted(set(merged) - known)
    if unknown:
        raise KeyError(f'Unknown task.tiling key(s) {unknown}; valid keys: {sorted(known | {"preset"})}')
    return TilingConfig(**merged)


def tile_starts(size: int, tile: int, stride: int) -> List[int]:
    """Tile corners along one axis.

    ``range(0, size - tile + 1, stride)`` as test_UHD.py's ``image_to_patches``; where that
    leaves the far border uncovered (the official code then divides 0 by 0 there, e.g. any
    height that is not 720 + k*360), one tile flush with the border is added. UHD-LOL
    4K/8K sizes are covered exactly, so the official preset is unchanged on them.
    """
    tile = min(tile, size)
    starts = list(range(0, size - tile + 1, stride))
    if starts[-1] + tile < size:
        starts.append(size - tile)
    return starts


def _ramp(length: int, ramp: int, left: bool, right: bool) -> np.ndarray:
    """1-D weights: raised cosine over ``ramp`` samples at the inner sides, 1 elsewhere; always > 0."""
    w = np.ones(length, np.float64)
    ramp = min(ramp, length // 2)
    if ramp > 0:
        rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)
        if left:
            w[:ramp] = rise
        if right:
            w[length - ramp:] = rise[::-1]
    return w


def _progress(total: int, enabled: Optional[bool]):
    from tqdm import tqdm
    return tqdm(total=total, desc='tiles', unit='tile', disable=not (total >= 16 if enabled is None else enabled))


def _blend_one(fn: TileFn, image: np.ndarray, cfg: TilingConfig) -> np.ndarray:
    """Tiled ``fn`` on one padded ``[C, H, W]`` image; returns the blended ``[C', H*s, W*s]``."""
    _, h, w = image.shape
    th, tw = min(cfg.tile[0], h), min(cfg.tile[1], w)
    corners = [(y, x) for y in tile_starts(h, th, cfg.stride[0]) for x in tile_starts(w, tw, cfg.stride[1])]
    acc = weight = None
    scale = 1
    with _progress(len(corners), cfg.progress) as bar:
        for i in range(0, len(corners), cfg.batch_size):
            batch = corners[i:i + cfg.batch_size]
            tiles = np.stack([image[:, y:y + th, x:x + tw] for y, x in batch]).astype(np.float32, copy=False)
            out = np.asarray(fn(tiles))
            if acc is None:
                scale = out.shape[-1] // tw
                if out.shape[-2:] != (th * scale, tw * scale):
                    raise ValueError(f'tile fn returned spatial size {out.shape[-2:]} for a {th}x{tw} tile; '
                                     'expected an integer scale of the tile')
                acc = np.zeros((out.shape[1], h * scale, w * scale), np.float32)
                weight = np.zeros((h * scale, w * scale), np.float32)
            for (y, x), tile_out in zip(batch, out):
                win = _window(cfg, (y, x), (th, tw), (h, w), scale)
                ys, xs = slice(y * scale, (y + th) * scale), slice(x * scale, (x + tw) * scale)
                acc[:, ys, xs] += tile_out if win is None else tile_out * win
                weight[ys, xs] += 1.0 if win is None else win
            bar.update(len(batch))
    acc /= weight
    return acc


def _window(cfg: TilingConfig, corner, tile, size, scale: int) -> Optional[np.ndarray]:
    if cfg.blend == 'average':
        return None
    axes = []
    for start, t, n, stride in zip(corner, tile, size, cfg.stride):
        ramp = max(t - stride, 0) * scale
        axes.append(_ramp(t * scale, ramp, left=start > 0, right=start + t < n))
    return np.outer(axes[0], axes[1]).astype(np.float32)


def tiled_predict(fn: TileFn, image: np.ndarray, cfg: Optional[TilingConfig] = None) -> np.ndarray:
    """Run ``fn`` on ``image`` (``[N, C, H, W]`` or ``[C, H, W]``) tile by tile; output cropped to the input.

    With ``cfg=None`` or ``cfg.tile=None``: whole-image mode (pad, one call per image, crop).
    """
    cfg = cfg or TilingConfig()
    squeeze = image.ndim == 3
    batch = image[None] if squeeze else image
    if batch.ndim != 4:
        raise ValueError(f'tiled_predict expects [N, C, H, W] or [C, H, W], got shape {image.shape}')
    h, w = batch.shape[-2:]
    padded = pad_image(batch.astype(np.float32, copy=False), cfg.size_multiple, cfg.pad_mode)
    if cfg.tile is None:
        outs = [np.asarray(fn(padded[i:i + 1]))[0] for i in range(len(padded))]
    else:
        outs = [_blend_one(fn, img, cfg) for img in padded]
    scale = outs[0].shape[-1] // padded.shape[-1]
    out = np.stack(outs)[:, :, :h * scale, :w * scale]
    if cfg.clamp is not None:
        np.clip(out, cfg.clamp[0], cfg.clamp[1], out=out)
    return out[0] if squeeze else out


def paddle_tile_fn(model, output_index: int = 0) -> TileFn:
    """Adapter: a dygraph Paddle model as a numpy tile function (no grad; the first output of a tuple)."""
    import paddle

    def run(tiles: np.ndarray) -> np.ndarray:
        with paddle.no_grad():
            out = model(paddle.to_tensor(tiles))
        if isinstance(out, (tuple, list)):
            out = out[output_index]
        return out.numpy()
    return run


def count_tiles(shape: Sequence[int], cfg: TilingConfig) -> int:
    """Number of tiles one ``[.., H, W]`` image needs under ``cfg`` (after padding)."""
    h, w = (math.ceil(s / cfg.size_multiple) * cfg.size_multiple for s in shape[-2:])
    if cfg.tile is None:
        return 1
    th, tw = min(cfg.tile[0], h), min(cfg.tile[1], w)
    return len(tile_starts(h, th, cfg.stride[0])) * len(tile_starts(w, tw, cfg.stride[1]))
