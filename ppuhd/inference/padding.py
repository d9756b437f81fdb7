"""The one padding rule: pad bottom and right to a size multiple, run, crop back.

:func:`source_index` says which row (or column) of the unpadded image each padded row
reads. It is written once, with array-namespace arithmetic, and serves the three places
that pad: dygraph (``pad_to_multiple`` on a tensor with known sizes), an exported graph
(the same function on tensor sizes, :func:`pad_bottom_right`) and numpy tiling
(:func:`pad_image`). Modes (``ppuhd.inference.contract.PAD_MODES``):

* ``'reflect'``: mirror without repeating the edge (``numpy.pad(mode='reflect')``); a pad that is
  not smaller than the side falls back to ``'replicate'`` (tiny images, e.g. 4 px for a multiple of 8).
* ``'symmetric'``: mirror repeating the edge, i.e. flip-concatenation ``[x, flip(x), x, ...]``
  (EDT's ``test_sample.py``).
* ``'replicate'``: repeat the last row.
"""
from typing import Callable, Tuple

import numpy as np
import paddle

from .contract import PAD_MODES


def pad_amount(size, multiple: int):
    """Rows to add so ``size`` becomes a multiple of ``multiple`` (an int, or an int tensor in graphs)."""
    return (multiple - size % multiple) % multiple


def source_index(size, pad, mode: str, xp=np):
    """Source row of each of the ``size + pad`` padded rows (``xp`` is ``numpy`` or ``paddle``).

    ``size`` and ``pad`` may be ints or (in graphs) int tensors; for ``'reflect'`` the caller decides
    the replicate fallback (:func:`fallback_mode`), which can be a tensor condition.
    """
    if mode not in PAD_MODES:
        raise ValueError(f'pad mode must be one of {PAD_MODES}, got {mode!r}')
    index = xp.arange(size + pad)
    if mode == 'replicate':
        beyond = index * 0 + (size - 1)
    elif mode == 'reflect':
        beyond = 2 * (size - 1) - index
    else:  # symmetric, periodic: row i reads i mod 2n, mirrored in the second half of each period
        period = index % (2 * size)
        beyond = 2 * size - 1 - period
        index = period
    return xp.where(index < size, index, beyond)


def fallback_mode(mode: str, h: int, w: int, pad_h: int, pad_w: int) -> str:
    """The mode used for both axes: reflect falls back to replicate when either pad does not fit its side."""
    return 'replicate' if mode == 'reflect' and (pad_h >= h or pad_w >= w) else mode


def pad_image(image: np.ndarray, multiple: int, mode: str = 'reflect') -> np.ndarray:
    """Pad a numpy ``[..., H, W]`` array bottom/right to a multiple of ``multiple`` (the rule above)."""
    h, w = image.shape[-2:]
    pad_h, pad_w = pad_amount(h, multiple), pad_amount(w, multiple)
    if pad_h == 0 and pad_w == 0:
        return image
    mode = fallback_mode(mode, h, w, pad_h, pad_w)
    return np.take(np.take(image, source_index(h, pad_h, mode), axis=-2), source_index(w, pad_w, mode), axis=-1)


def pad_bottom_right(x, pad_h, pad_w, mode: str = 'reflect'):
    """Pad an NCHW tensor by ``pad_h`` rows and ``pad_w`` columns at the bottom/right with the rule above.

    Dygraph (or a graph traced with fixed sizes) gathers the rows and columns :func:`source_index`
    names; a graph with dynamic H and W (the amounts tensors) gathers the same, with the reflect ->
    replicate fallback of tiny images as a tensor condition, and an image that needs no pad (4K and
    1080p for UHDFour) skips both copies through a branch.
    For pad amounts of another rule than :func:`pad_amount` (e.g. EDT's extra window).
    """
    h, w = x.shape[2], x.shape[3]
    if not _sizes_known(x):
        return _graph_pad(x, pad_h, pad_w, mode)
    if pad_h == 0 and pad_w == 0:
        return x
    mode = fallback_mode(mode, h, w, pad_h, pad_w)
    rows = paddle.to_tensor(source_index(h, pad_h, mode))
    cols = paddle.to_tensor(source_index(w, pad_w, mode))
    return paddle.gather(paddle.gather(x, rows, axis=2), cols, axis=3)


def _sizes_known(x) -> bool:
    """H and W are ints: dygraph, or a graph traced with fixed input sizes (then padded as in dygraph)."""
    return paddle.in_dynamic_mode() or all(isinstance(s, int) and s >= 0 for s in x.shape[2:])


def _graph_pad(x, pad_h, pad_w, mode: str):
    shape = paddle.shape(x)
    h, w = shape[2], shape[3]

    def index(size, pad):
        if mode != 'reflect':
            return source_index(size, pad, mode, paddle)
        replicate = paddle.logical_or(pad_h >= h, pad_w >= w)
        return paddle.where(replicate, source_index(size, pad, 'replicate', paddle),
                            source_index(size, pad, 'reflect', paddle))

    def padded():
        return paddle.gather(paddle.gather(x, index(h, pad_h), axis=2), index(w, pad_w), axis=3)
    return paddle.static.nn.cond(pad_h + pad_w == 0, lambda: x, padded)


def pad_to_multiple(x, multiple: int, mode: str = 'reflect'):
    """Pad an NCHW tensor bottom/right to a multiple of ``multiple``; returns (padded, (H, W)).

    Works in dygraph and in graphs with dynamic H and W (then H and W are int tensors).
    """
    if not _sizes_known(x):
        shape = paddle.shape(x)
        h, w = shape[2], shape[3]
        return _graph_pad(x, pad_amount(h, multiple), pad_amount(w, multiple), mode), (h, w)
    h, w = x.shape[2], x.shape[3]
    return pad_bottom_right(x, pad_amount(h, multiple), pad_amount(w, multiple), mode), (h, w)


def crop_to(y, size: Tuple[int, int]):
    """The top-left ``size`` (H, W) of an NCHW tensor."""
    return y[:, :, :size[0], :size[1]]


def predict_padded(fn: Callable, x, multiple: int, mode: str = 'reflect', scale: int = 1):
    """``fn`` on ``x`` padded to ``multiple``; the output is cropped to ``scale`` x the input size."""
    padded, (h, w) = pad_to_multiple(x, multiple, mode)
    return crop_to(fn(padded), (h * scale, w * scale))
