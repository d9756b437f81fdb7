"""Shape helpers that work both in dygraph and under ``paddle.jit.to_static`` with dynamic H and W.

In a graph exported with ``InputSpec([None, C, None, None])`` the unknown dims of
``x.shape`` are -1, so shape arithmetic on them is wrong; ``paddle.shape(x)``
gives them as tensors instead. Dygraph keeps plain ints, so its kernels and
outputs are exactly those of the eager code.
"""
from typing import Tuple, Union

import paddle

Dim = Union[int, paddle.Tensor]


def spatial_size(x: paddle.Tensor) -> Tuple[Dim, Dim]:
    """(H, W) of an [..., H, W] tensor: ints in dygraph, int tensors while tracing a static graph."""
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


def _lerp_axis(x: paddle.Tensor, out_size: Dim, axis: int) -> paddle.Tensor:
    low, high, frac = _source_rows(paddle.shape(x)[axis], out_size)
    # rank 4: oneDNN runs a rank-2 x rank-4 broadcast through a very slow path
    frac = frac.reshape([1, 1, -1, 1] if axis == 2 else [1, 1, 1, -1])
    return paddle.gather(x, low, axis=axis) * (1 - frac) + paddle.gather(x, high, axis=axis) * frac


def resize_bilinear(x: paddle.Tensor, size: Tuple[Dim, Dim]) -> paddle.Tensor:
    """``F.interpolate(x, size, mode='bilinear', align_corners=False)`` of an NCHW tensor.

    Dygraph calls ``F.interpolate``. A static graph interpolates with gathers
    and the same index and weight formulas (Paddle's interpolate kernel, ratio
    in/out), equal to float round-off: Paddle Inference 3.3.1 cannot run the
    ``bilinear_interp`` op under oneDNN ("ConvertPirAttribute2RuntimeAttribute
    not support ArrayAttribute<DoubleAttribute>", PaddlePaddle/Paddle#79749).
    """
    if paddle.in_dynamic_mode():
        return paddle.nn.functional.interpolate(x, size=list(size), mode='bilinear', align_corners=False)
    return _lerp_axis(_lerp_axis(x, size[0], 2), size[1], 3)
