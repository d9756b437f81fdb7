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

``'official_ipt'`` is IPT's ``forward_chop`` (huawei-noah/Pretrained-IPT ``model/__init__.py``) for
networks that take exactly one tile size (``fixed_tile``; preset ``official_ipt``: 48 x 48 at stride 12):
each tile's output counts only in its central half, overlaps averaged, the outer quarter-tile frame
and the ``(H - tile) % stride`` remainder from strips at the edges (:func:`official_ipt_axis_weights`).
It computes every distinct tile once (361 passes at 256 x 256 where the official code runs 397).
"""
import copy
import math
from dataclasses import dataclass, fields
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .contract import PAD_MODES, ImageIO
from .padding import fallback_mode, pad_image, source_index

TileFn = Callable[[np.ndarray], np.ndarray]
BLENDS = ('average', 'cosine', 'official_ipt')

PRESETS: Dict[str, dict] = {
    # LLFormer test_UHD.py: mul = 16, patch_size = 720, 1280, stride = 720 // 2, 1280 // 2,
    # patches.split(1), counts average, torch.clamp(restored, 0, 1).
    'official_uhd': dict(tile=(720, 1280), stride=(360, 640), blend='average', batch_size=1,
                         size_multiple=16, clamp=(0.0, 1.0)),
    # IPT model/__init__.py forward_chop: patch_size 48, shave 24, tiles every shave / 2 = 12 px, crop_batch_size
    # 64 (bounds memory only).
    'official_ipt': dict(tile=(48, 48), stride=(12, 12), blend='official_ipt', batch_size=64, fixed_tile=True),
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
        blend: ``'average'`` (official), ``'cosine'`` (seam-free ramp weights) or ``'official_ipt'`` (IPT's
            ``forward_chop``: stride = tile / 4, needs ``fixed_tile``).
        batch_size: tiles per ``fn`` call.
        size_multiple: the padded image's H, W are multiples of this (reflect padding).
        pad_mode: ``'reflect'`` (official), ``'symmetric'`` or ``'replicate'`` (:mod:`ppuhd.inference.padding`).
        clamp: clip the blended output to ``(lo, hi)``; ``None`` keeps it raw.
        progress: show a tqdm bar; ``None`` shows it from 16 tiles on.
        fixed_tile: ``fn`` takes exactly ``tile`` (e.g. an exported fixed-shape graph): an image side below the
            tile is padded up to it (``pad_mode``, bottom/right) and the output cropped back, instead of the
            tile shrinking to the image.
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
    fixed_tile: bool = False

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
        if self.blend == 'official_ipt' and not (self.fixed_tile and self.tile is not None and
                                                 self.stride == tuple(t // 4 for t in self.tile)):
            raise ValueError(f"tiling.blend 'official_ipt' is IPT's forward_chop: it needs a tile, stride = tile / 4 "
                             f'and fixed_tile: true (got tile {self.tile}, stride {self.stride}, fixed_tile '
                             f'{self.fixed_tile}); use preset official_ipt')
        if self.fixed_tile and self.tile is None:
            raise ValueError('tiling.fixed_tile needs tiling.tile (the one size the model takes)')


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


def _output_scale(out: np.ndarray, th: int, tw: int) -> int:
    """The integer scale of a tile function's output for ``th x tw`` tiles (ValueError otherwise)."""
    scale = out.shape[-1] // tw
    if scale < 1 or out.shape[-2:] != (th * scale, tw * scale):
        raise ValueError(f'tile fn returned spatial size {out.shape[-2:]} for a {th}x{tw} tile; '
                         'expected an integer scale of the tile')
    return scale


def official_ipt_axis_weights(size: int, scale: int, tile: int = 48) -> Tuple[List[int], np.ndarray, int]:
    """Tile starts along one axis, each tile's output weights and the seam row, as IPT's ``forward_chop`` has them.

    ``model/__init__.py`` (``padsize = patch_size``, ``shave = patch_size / 2``): tiles start every
    ``shave / 2 = tile / 4`` px from 0 up to ``size - cut`` (``cut = (size - tile) % stride``) and one strip
    starts at ``size - tile``. Output rows (scale ``s``) before ``seam = (size - cut) s - int((tile - cut) / 2 * s)``
    come from the grid: the first ``tile / 4 * s`` from the first tile alone, the rest as the average of the
    tiles whose central ``[tile / 4 * s, 3 tile / 4 * s)`` covers them (the fold-of-ones divisor); rows from
    ``seam`` on come from the edge strip (its rows from ``int((tile - cut) / 2 * s + 0.5)``, which meets the seam
    for odd ``(tile - cut) s`` as well). Returns ``(starts, weights, seam)``; ``weights[i]`` (length
    ``tile * s``) and the others' sum to 1 per row.
    """
    if size < tile:
        raise ValueError(f'the official IPT chop needs a side of at least {tile}, got {size} (pad first)')
    stride = margin = tile // 4
    cut = (size - tile) % stride
    main = size - cut
    grid = list(range(0, main - tile + 1, stride))
    starts = grid + ([size - tile] if cut else [])
    weights = np.zeros((len(starts), tile * scale), np.float64)
    seam = main * scale - int((tile - cut) / 2 * scale)
    for row in range(seam):
        if row < margin * scale:
            owners = [0]
        else:
            owners = [i for i, start in enumerate(grid)
                      if (start + margin) * scale <= row < (start + tile - margin) * scale]
        for i in owners:
            weights[i, row - starts[i] * scale] += 1.0 / len(owners)
    for row in range(seam, size * scale):
        weights[-1, row - starts[-1] * scale] += 1.0
    return starts, weights, seam


def _official_ipt_one(fn: TileFn, image: np.ndarray, cfg: TilingConfig) -> np.ndarray:
    """IPT's ``forward_chop`` of one ``[C, H, W]`` image with sides >= the tile.

    The same output as the official code (up to float summation order) from fewer passes: it runs the top
    and left strips again although they are the grid's first row and column. Per axis the weights are
    :func:`official_ipt_axis_weights`; the one place where the official result is not their product is the
    top strip's first ``tile s`` columns, which ``y[..., :, :padsize*scale] = y_w_top`` overwrites with the
    left strip, i.e. with the top-left tile alone in rows ``[0, tile / 4 * s)``.
    """
    _, h, w = image.shape
    th, tw = cfg.tile
    rows, cols = official_ipt_axis_weights(h, 1, th)[0], official_ipt_axis_weights(w, 1, tw)[0]
    pairs = [(i, j) for i in range(len(rows)) for j in range(len(cols))]
    out = first = row_w = col_w = None
    s = col_seam = 1
    with _progress(len(pairs), cfg.progress) as bar:
        for start in range(0, len(pairs), cfg.batch_size):
            batch = pairs[start:start + cfg.batch_size]
            tiles = np.stack([image[:, rows[i]:rows[i] + th, cols[j]:cols[j] + tw] for i, j in batch])
            ys = np.asarray(fn(tiles.astype(np.float32, copy=False)))
            if out is None:
                s = _output_scale(ys, th, tw)
                row_w = official_ipt_axis_weights(h, s, th)[1]
                _, col_w, col_seam = official_ipt_axis_weights(w, s, tw)
                out = np.zeros((ys.shape[1], h * s, w * s), np.float64)
            for (i, j), y in zip(batch, ys):
                out[:, rows[i] * s:(rows[i] + th) * s, cols[j] * s:(cols[j] + tw) * s] += y * np.outer(row_w[i],
                                                                                                   col_w[j])
                if (i, j) == (0, 0):
                    first = y
            bar.update(len(batch))
    top, left, right = th // 4 * s, tw // 4 * s, min(tw * s, col_seam)
    out[:, :top, left:right] = first[:, :top, left:right]
    return out.astype(np.float32)


def _pad_to_tile(image: np.ndarray, tile: Tuple[int, int], mode: str) -> np.ndarray:
    """Bottom/right padding of ``[..., H, W]`` to sides of at least ``tile`` (the rule of ppuhd.inference.padding)."""
    h, w = image.shape[-2:]
    pad_h, pad_w = max(0, tile[0] - h), max(0, tile[1] - w)
    if not (pad_h or pad_w):
        return image
    mode = fallback_mode(mode, h, w, pad_h, pad_w)
    return np.take(np.take(image, source_index(h, pad_h, mode), axis=-2), source_index(w, pad_w, mode), axis=-1)


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
                scale = _output_scale(out, th, tw)
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
    if cfg.fixed_tile:
        padded = _pad_to_tile(padded, cfg.tile, cfg.pad_mode)
    if cfg.tile is None:
        outs = [np.asarray(fn(padded[i:i + 1]))[0] for i in range(len(padded))]
    else:
        blend_one = _official_ipt_one if cfg.blend == 'official_ipt' else _blend_one
        outs = [blend_one(fn, img, cfg) for img in padded]
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
    if cfg.fixed_tile:  # padded up to the tile (the official IPT chop has the same starts as tile_starts)
        h, w = max(h, cfg.tile[0]), max(w, cfg.tile[1])
    th, tw = min(cfg.tile[0], h), min(cfg.tile[1], w)
    return len(tile_starts(h, th, cfg.stride[0])) * len(tile_starts(w, tw, cfg.stride[1]))
