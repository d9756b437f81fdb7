"""Shape helpers and bilinear resampling for graphs whose H and W are only known at run time.

In a graph exported with ``InputSpec([None, C, None, None])`` the unknown dims of
``x.shape`` are -1, so shape arithmetic on them is wrong; ``paddle.shape(x)``
gives them as tensors instead. Dygraph keeps plain ints, so its kernels and outputs
are exactly those of the eager code.

The resampling functions come in two formulations of the same values: ``resize_bilinear`` /
``downsample_bilinear`` / ``upsample_bilinear`` call ``F.interpolate`` with the sizes ``x.shape``
gives (what a model's ``forward`` runs, eagerly or traced with fixed sizes); the ``*_inference``
ones are matrix products, strided slices and fixed-weight phases for exported graphs with dynamic
sizes (equal to float round-off), used by UHDFour's export variant.
"""
from typing import Tuple, Union

import paddle

Dim = Union[int, paddle.Tensor]


def spatial_size(x: paddle.Tensor) -> Tuple[Dim, Dim]:
    """(H, W) of an [..., H, W] tensor: ints in dygraph, int tensors while tracing a static graph.

    Tensors even where the traced shape looks known: shape inference of some ops (FFTs, cond
    branches) gives wrong static sizes for dims that are dynamic upstream.
    """
    if paddle.in_dynamic_mode():
        return x.shape[-2], x.shape[-1]
    shape = paddle.shape(x)
    return shape[-2], shape[-1]


def _source_rows(in_size: paddle.Tensor, out_size: Dim):
    """Paddle's bilinear (align_corners False) source index pair and weight of each output row."""
    ratio = in_size.astype('float32') / paddle.to_tensor(out_size).astype('float32')
    src = paddle.clip(ratio * (paddle.arange(out_size).astype('float32') + 0.5) - 0.5, min=0.0)
    low = paddle.floor(src).astype('int64')
    high = paddle.minimum(low + 1, in_size.astype('int64') - 1)
    return low, high, src - low.astype('float32')


def _interp_matrix(in_size: paddle.Tensor, out_size: Dim, transposed: bool = False) -> paddle.Tensor:
    """[out, in] (or [in, out]) matrix of Paddle's bilinear (align_corners False) weights along one axis:
    two taps per output row."""
    low, high, frac = _source_rows(in_size, out_size)
    src = paddle.arange(in_size).astype('int64')
    out_axis = 0 if transposed else 1  # where the per-output vectors are broadcast from
    src, low, high, frac = src.unsqueeze(1 - out_axis), low.unsqueeze(out_axis), high.unsqueeze(out_axis), \
        frac.unsqueeze(out_axis)
    return (src == low).astype('float32') * (1 - frac) + (src == high).astype('float32') * frac


def resize_bilinear(x: paddle.Tensor, size: Tuple[int, int]) -> paddle.Tensor:
    """``F.interpolate(x, size, mode='bilinear', align_corners=False)`` of an NCHW tensor."""
    return paddle.nn.functional.interpolate(x, size=list(size), mode='bilinear', align_corners=False)


def resize_bilinear_inference(x: paddle.Tensor, size: Tuple[Dim, Dim]) -> paddle.Tensor:
    """:func:`resize_bilinear` as products with the interpolation matrices (rows, then columns).

    The matrices come from Paddle's index and weight formulas (ratio in/out): equal to float
    round-off, and two matrix products instead of gathers and broadcasts, which Paddle's CPU kernels
    run single-threaded (UHDFour 4K: ~1 s per image). Paddle Inference 3.3.1 cannot run the
    ``bilinear_interp`` op under oneDNN ("ConvertPirAttribute2RuntimeAttribute not support
    ArrayAttribute<DoubleAttribute>", PaddlePaddle/Paddle#79749). The column matrix is built
    transposed rather than passed with ``transpose_y``: under the default oneDNN passes, a transposed
    operand with one input column (a 1-pixel-wide map) gives garbage (Paddle Inference 3.3.1).
    """
    shape = paddle.shape(x)
    rows = paddle.matmul(_interp_matrix(shape[2], size[0]), x)  # [out_h, H] @ [B, C, H, W]
    cols = paddle.matmul(rows.reshape([-1, shape[3]]), _interp_matrix(shape[3], size[1], transposed=True))
    return cols.reshape([shape[0], shape[1], size[0], size[1]])


def _take(x: paddle.Tensor, axis: int, start: int, stop, step: int = 1) -> paddle.Tensor:
    return paddle.strided_slice(x, [axis], [start], [stop], [step])


def downsample_bilinear(x: paddle.Tensor, factor: int) -> paddle.Tensor:
    """``resize_bilinear`` to 1/``factor`` of an NCHW tensor whose H and W are multiples of ``factor``."""
    h, w = x.shape[-2:]
    return resize_bilinear(x, (h // factor, w // factor))


def downsample_bilinear_inference(x: paddle.Tensor, factor: int) -> paddle.Tensor:
    """:func:`downsample_bilinear` for an even ``factor``, as strided slices.

    What the resize computes at an exact integer ratio: source row ``factor * i + factor / 2 - 0.5``,
    i.e. the mean of two strided rows (and columns), without gathers (equal to float round-off).
    Output sides must be >= 2: for a 1-pixel output Paddle's kernel reads row 0 instead.
    """
    for axis in (2, 3):
        first = _take(x, axis, factor // 2 - 1, 2 ** 31 - 1, factor)
        second = _take(x, axis, factor // 2, 2 ** 31 - 1, factor)
        x = first * 0.5 + second * 0.5
    return x


def _upsample_axis(x: paddle.Tensor, factor: int, axis: int) -> paddle.Tensor:
    # output row factor * i + k reads source row i + (k + 0.5) / factor - 0.5, clamped at the borders:
    # rows i - 1 and i (k < factor / 2) or i and i + 1, with fixed weights; edge rows repeated for the clamp
    n = paddle.shape(x)[axis]
    padded = paddle.concat([_take(x, axis, 0, 1), x, _take(x, axis, -1, 2 ** 31 - 1)], axis=axis)
    phases = []
    for k in range(factor):
        src = (k + 0.5) / factor - 0.5
        low = -1 if src < 0 else 0
        frac = src - low
        a = paddle.slice(padded, [axis], [low + 1], [n + low + 1])
        b = paddle.slice(padded, [axis], [low + 2], [n + low + 2])
        phases.append(a * (1 - frac) + b * frac)
    out = paddle.stack(phases, axis=axis + 1)  # [..., n, factor, ...]
    shape = paddle.shape(x)
    new_shape = [shape[i] for i in range(4)]
    new_shape[axis] = n * factor
    return out.reshape(new_shape)


def upsample_bilinear(x: paddle.Tensor, factor: int) -> paddle.Tensor:
    """``resize_bilinear`` of an NCHW tensor to ``factor`` times its size (align_corners False)."""
    h, w = x.shape[-2:]
    return resize_bilinear(x, (h * factor, w * factor))


def upsample_bilinear_inference(x: paddle.Tensor, factor: int) -> paddle.Tensor:
    """:func:`upsample_bilinear` as ``factor`` fixed two-tap blends of edge-padded shifted inputs, interleaved.

    No full-resolution gathers or broadcasts (equal to float round-off).
    """
    return _upsample_axis(_upsample_axis(x, factor, 2), factor, 3)
