"""The image-to-image contract: what an image model takes and returns, declared once per model.

Every image-to-image model (enhancement, super-resolution, denoising, deraining) sets
``self.image_io = ImageIO(...)``. Tasks, the evaluator, tiling, export, the deploy predictor
and the HTTP service read scale, padding, size limits and channels from it, and from nowhere
else; deploy reads the same object back from the ``image_io`` section of ``infer_cfg.yml``
(:meth:`ImageIO.to_dict` / :meth:`ImageIO.from_dict`).

Inputs and outputs are NCHW float32 in ``value_range`` (always [0, 1] at the interface; a
model's own range, e.g. IPT's 0..255, is internal to its ``forward``).

Only the standard library is imported, so deploy code can use this module without Paddle.
"""
import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

PAD_MODES = ('reflect', 'symmetric', 'replicate')
CHANNELS = {'rgb': 3, 'y': 1}


@dataclass(frozen=True)
class ImageIO:
    """The I/O rules of an image-to-image model.

    Args:
        scale: output H and W = ``scale`` x input H and W (1 for enhancement, 2/3/4 for super-resolution).
        size_multiple: the network proper needs H and W to be multiples of this.
        min_size: smallest input side served (after which the deepest level still has >= 1 pixel, etc.).
        pads_itself: ``forward`` pads any H x W to ``size_multiple`` (with ``pad_mode``) and crops the output
            back itself; otherwise callers (tasks, tiling, export) pad with :func:`ppuhd.inference.pad_to_multiple`.
        pad_mode: the padding rule of :mod:`ppuhd.inference.padding`: ``'reflect'`` (edge not repeated,
            ``'replicate'`` where the pad is not smaller than the side), ``'symmetric'`` (edge repeated,
            flip-concatenation) or ``'replicate'``.
        channels: ``'rgb'`` (3 channels) or ``'y'`` (1 channel, BT.601 luma; RGB images are served as the
            model on Y plus bicubic Cb/Cr, as ESPCN's paper).
        value_range: range of input and output values at the interface.
        tile_size: the network proper takes exactly ``tile_size`` x ``tile_size`` inputs (IPT's 48 x 48 body), or
            ``None`` (any size). Such a model trains on crops of that size, its eval ``forward`` tiles other sizes
            itself (``pads_itself``), and its export graph is the one fixed-shape tile that the predictor tiles
            with the model's ``deploy_tiling()`` (``tiling`` in ``infer_cfg.yml``).
    """
    scale: int = 1
    size_multiple: int = 1
    min_size: int = 1
    pads_itself: bool = False
    pad_mode: str = 'reflect'
    channels: str = 'rgb'
    value_range: Tuple[float, float] = (0.0, 1.0)
    tile_size: Optional[int] = None

    def __post_init__(self):
        for name in ('scale', 'size_multiple', 'min_size', 'tile_size'):
            value = getattr(self, name)
            if name == 'tile_size' and value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f'ImageIO.{name} must be an int >= 1, got {value!r}')
        if self.pad_mode not in PAD_MODES:
            raise ValueError(f'ImageIO.pad_mode must be one of {PAD_MODES}, got {self.pad_mode!r}')
        if self.channels not in CHANNELS:
            raise ValueError(f'ImageIO.channels must be one of {sorted(CHANNELS)}, got {self.channels!r}')
        object.__setattr__(self, 'value_range', tuple(float(v) for v in self.value_range))

    @property
    def in_channels(self) -> int:
        """Channels of the model's input (and output) tensor."""
        return CHANNELS[self.channels]

    def output_size(self, h: int, w: int) -> Tuple[int, int]:
        """(H, W) of the output for an (h, w) input."""
        return h * self.scale, w * self.scale

    def check_size(self, h: int, w: int, what: str = 'image') -> None:
        """ValueError naming the size when a side is below ``min_size``."""
        if min(h, w) < self.min_size:
            raise ValueError(f'{what} is {w}x{h} pixels; this model needs at least {self.min_size}x{self.min_size}')

    def to_dict(self) -> Dict[str, Any]:
        """Plain YAML/JSON values (the ``image_io`` section of ``infer_cfg.yml``)."""
        out = dataclasses.asdict(self)
        out['value_range'] = list(self.value_range)
        return out

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> 'ImageIO':
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise KeyError(f'unknown image_io key(s) {unknown}; known: {sorted(known)}')
        return cls(**data)


def image_io_of(model) -> ImageIO:
    """The :class:`ImageIO` a model declares; a clear error for models that are not image-to-image."""
    spec = getattr(model, 'image_io', None)
    if not isinstance(spec, ImageIO):
        raise TypeError(f'{type(model).__name__} declares no image_io (an ppuhd.inference.ImageIO): only '
                        'image-to-image models can be used here; see docs/adding_a_model.md')
    return spec
