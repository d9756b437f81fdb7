"""1x1 convolutions, and the matrix products that replace them in exported graphs.

``PointwiseConv2D`` / ``PointwiseConv2DTranspose`` are the parent layers (their ``forward`` is the
parent's kernel) plus ``matrix()``, the [out, in] weight. An export variant (UHDFour's) applies them
with :func:`pointwise_matmul` / :func:`pointwise_concat_matmul` instead, equal to float round-off,
because Paddle Inference's oneDNN conv keeps a blocked copy of every input that does not arrive in its
own layout, cached per op and input shape for the life of the predictor (``AcquireSrcMemoryWithReorder``
in ``phi/kernels/onednn/conv_handler.h``). A model whose convs follow FFTs, slices and concats (UHDFour)
holds one such copy per conv: 6 GB at 4K. oneDNN's matmul reads the plain layout in place.
Parameter names and shapes are those of the parent layers, so checkpoints load unchanged.
"""
import paddle
import paddle.nn as nn

from .dynamic import spatial_size


def pointwise_matmul(weight: paddle.Tensor, bias, x: paddle.Tensor) -> paddle.Tensor:
    """``weight`` [out, in] applied to every pixel of NCHW ``x``, plus ``bias`` [out] (or None)."""
    h, w = spatial_size(x)
    out = paddle.matmul(weight, x.reshape([0, 0, -1]))
    if bias is not None:
        out = out + bias.reshape([-1, 1])
    return out.reshape([0, 0, h, w])


def pointwise_concat_matmul(layer, parts) -> paddle.Tensor:
    """``layer(paddle.concat(parts, axis=1))`` for a pointwise layer of this module, as matrix products.

    The concatenated tensor is never built: the layer's matrix is split by input channels and the
    per-part products summed (equal to float round-off).
    """
    weight, start, out = layer.matrix(), 0, None
    for i, part in enumerate(parts):
        stop = start + part.shape[1]
        term = pointwise_matmul(weight[:, start:stop], layer.bias if i == 0 else None, part)
        out, start = (term if out is None else out + term), stop
    return out


class PointwiseConv2D(nn.Conv2D):
    """``nn.Conv2D(in_channels, out_channels, 1)`` with its weight as a matrix.

    Args:
        in_channels: input channels.
        out_channels: output channels.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, 1)

    def matrix(self) -> paddle.Tensor:
        return self.weight[:, :, 0, 0]  # [out, in, 1, 1]


class PointwiseConv2DTranspose(nn.Conv2DTranspose):
    """``nn.Conv2DTranspose(in_channels, out_channels, 1)`` with its weight as a matrix.

    Args:
        in_channels: input channels.
        out_channels: output channels.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, 1)

    def matrix(self) -> paddle.Tensor:
        return self.weight[:, :, 0, 0].t()  # stored [in, out, 1, 1]
