"""Pad an NCHW batch to a size multiple, run a model, crop back."""
from typing import Callable, Tuple

import paddle
import paddle.nn.functional as F


def pad_to_multiple(x: paddle.Tensor, multiple: int, mode: str = 'reflect') -> Tuple[paddle.Tensor, Tuple[int, int]]:
    """Pad bottom/right so H and W are multiples of ``multiple``; returns (padded, (H, W)).

    Reflect padding needs the pad to be smaller than the side; tiny images
    fall back to edge replication instead of failing.
    """
    h, w = x.shape[2], x.shape[3]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h == 0 and pad_w == 0:
        return x, (h, w)
    if mode == 'reflect' and (pad_h >= h or pad_w >= w):
        mode = 'replicate'
    return F.pad(x, [0, pad_w, 0, pad_h], mode=mode, data_format='NCHW'), (h, w)


def crop_to(y: paddle.Tensor, size: Tuple[int, int]) -> paddle.Tensor:
    return y[:, :, :size[0], :size[1]]


def predict_padded(fn: Callable[[paddle.Tensor], paddle.Tensor], x: paddle.Tensor, multiple: int,
                   mode: str = 'reflect') -> paddle.Tensor:
    """``fn`` on ``x`` padded to ``multiple``; the output is cropped to the input size."""
    padded, size = pad_to_multiple(x, multiple, mode)
    return crop_to(fn(padded), size)
