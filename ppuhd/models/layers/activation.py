"""Activations written so that exported graphs run under Paddle Inference's default passes."""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F


def leaky_relu_of_conv(y: paddle.Tensor, slope: float) -> paddle.Tensor:
    """``F.leaky_relu`` of a conv output, read through a reshape (a view: same values, no copy).

    Paddle Inference 3.3.1's ``conv_activation_onednn_fuse_pass``, on by default with oneDNN, matches
    conv2d (or the fused conv + bias) directly followed by leaky_relu and segfaults while building the
    fused conv (``FusedConv2dOp::Build`` reads a null ``FloatAttribute``); with the reshape between
    them the pattern does not match, and a default-settings client runs the graph. Dygraph values and
    gradients are those of ``F.leaky_relu``.
    """
    return F.leaky_relu(y.reshape([0, 0, -1]), slope).reshape(paddle.shape(y))


class ConvLeakyReLU(nn.Layer):
    """``nn.LeakyReLU`` for the output of a conv (see :func:`leaky_relu_of_conv`).

    Args:
        negative_slope: slope for negative inputs.
    """

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return leaky_relu_of_conv(x, self.negative_slope)
