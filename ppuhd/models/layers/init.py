"""Weight initialisation helpers."""
import math

import paddle
import paddle.nn as nn

_CONV_LINEAR = (nn.Conv1D, nn.Conv2D, nn.Conv3D, nn.Conv1DTranspose, nn.Conv2DTranspose, nn.Conv3DTranspose)


def _fan_in(weight: paddle.Tensor, is_linear: bool) -> int:
    # torch computes fan_in from dim 1 (times the kernel size); Paddle's Linear stores [in, out]
    if is_linear:
        return weight.shape[0]
    return weight.shape[1] * int(math.prod(weight.shape[2:]))


def torch_default_init_(model: nn.Layer) -> nn.Layer:
    """Re-initialise every conv / linear layer as PyTorch does by default.

    PyTorch: ``kaiming_uniform_(a=sqrt(5))`` for weights, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    and the same bound for biases. Paddle's defaults (Kaiming-normal-like convs, zero biases) are
    about 2.4x larger per layer, which makes models designed around PyTorch's init, such as
    UHDFour's chained Fourier blocks, start with exploding outputs.
    """
    for layer in model.sublayers(include_self=True):
        if isinstance(layer, _CONV_LINEAR + (nn.Linear,)):
            bound = 1.0 / math.sqrt(max(1, _fan_in(layer.weight, isinstance(layer, nn.Linear))))
            layer.weight.set_value(paddle.uniform(layer.weight.shape, layer.weight.dtype, -bound, bound))
            if layer.bias is not None:
                layer.bias.set_value(paddle.uniform(layer.bias.shape, layer.bias.dtype, -bound, bound))
    return model
