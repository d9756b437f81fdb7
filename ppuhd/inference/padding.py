"""Pad an NCHW batch to a size multiple, run a model, crop back."""
from typing import Callable, Tuple

import paddle
import paddle.nn.functional as F


def pad_to_multiple(x: paddle.Tensor, multiple: int, mode: str = 'reflect') -> Tuple[paddle.Tensor, Tuple[int, int]]:
    """Pad bottom/right so H and W are multiples of ``multiple``; returns (padded, (H, W)).

    Reflect padding needs the pad to be smaller than the side; tiny images
    fall back to edge replication instead of failing.
    """
    if not paddle.in_dynamic_mode():  # tracing an export with dynamic H and W
        if mode != 'reflect':
            raise ValueError(f"pad_to_multiple in an exported graph supports mode 'reflect' only, got {mode!r}")
        return _graph_pad(x, multiple)
    h, w = x.shape[2], x.shape[3]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h == 0 and pad_w == 0:
        return x, (h, w)
    if mode == 'reflect' and (pad_h >= h or pad_w >= w):
        mode = 'replicate'
    return F.pad(x, [0, pad_w, 0, pad_h], mode=mode, data_format='NCHW'), (h, w)


def _pad_index(size: paddle.Tensor, pad: paddle.Tensor, replicate: paddle.Tensor) -> paddle.Tensor:
    """Source rows of a bottom pad by ``pad``: reflect (no edge repeat), or the last row when ``replicate``."""
    index = paddle.arange(size + pad)
    beyond = paddle.where(replicate, paddle.full_like(index, 1) * (size - 1), 2 * (size - 1) - index)
    return paddle.where(index < size, index, beyond)


def _graph_pad(x: paddle.Tensor, multiple: int):
    """``pad_to_multiple`` for a graph with dynamic H and W: the pad amounts are tensors there.

    Gathers the padded rows and columns so neither the amounts nor the
    reflect -> replicate fallback of tiny images needs Python control flow;
    the values are those of ``pad_to_multiple``.
    """
    shape = paddle.shape(x)
    h, w = shape[2], shape[3]
    pad_h, pad_w = (multiple - h % multiple) % multiple, (multiple - w % multiple) % multiple
    replicate = paddle.logical_or(pad_h >= h, pad_w >= w)

    def padded():
        rows = paddle.gather(x, _pad_index(h, pad_h, replicate), axis=2)
        return paddle.gather(rows, _pad_index(w, pad_w, replicate), axis=3)
    # sizes that need no pad (4K, 1080p for UHDFour) skip two full-resolution copies
    return paddle.static.nn.cond(pad_h + pad_w == 0, lambda: x, padded), (h, w)


def crop_to(y: paddle.Tensor, size: Tuple[int, int]) -> paddle.Tensor:
    return y[:, :, :size[0], :size[1]]


def predict_padded(fn: Callable[[paddle.Tensor], paddle.Tensor], x: paddle.Tensor, multiple: int,
                   mode: str = 'reflect') -> paddle.Tensor:
    """``fn`` on ``x`` padded to ``multiple``; the output is cropped to the input size."""
    padded, size = pad_to_multiple(x, multiple, mode)
    return crop_to(fn(padded), size)
