"""ESPCN: efficient sub-pixel convolutional network for super-resolution, on the Y channel.

Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel
Convolutional Neural Network", CVPR 2016 (arXiv:1609.05158). Reference code:
https://github.com/yjn870/ESPCN-pytorch @ab84ee1 (``models.py``, ``train.py``, ``test.py``), which
is the paper's network (pytorch/examples' ``super_resolution`` is not: four convs and ReLU).

conv5x5 1->64, tanh, conv3x3 64->32, tanh, conv3x3 32->r^2, PixelShuffle(r), 'same' padding.
Module names follow yjn870 (``first_part.0``, ``first_part.2``, ``last_part.0``), so its
checkpoints load by name. ``forward`` is the raw network: yjn870's ``test.py`` clamps to [0, 1]
outside the model, and so do the project's metrics and image writers. An RGB image is served
as the paper does: ESPCN on Y plus bicubic Cb/Cr (``ImageIO(channels='y')``).
"""
import math

import paddle
import paddle.nn as nn

from ..inference import ImageIO
from ..registry import MODELS
from .layers import PixelShuffle


def _normal_conv(cin: int, cout: int, k: int, std: float, lr_scale: float = 1.0) -> nn.Conv2D:
    # yjn870 _initialize_weights: weight N(0, std), bias 0. ``lr_scale`` multiplies the optimizer's
    # learning rate for both tensors (Paddle's ParamAttr.learning_rate).
    weight = paddle.ParamAttr(initializer=nn.initializer.Normal(0.0, std), learning_rate=lr_scale)
    bias = paddle.ParamAttr(initializer=nn.initializer.Constant(0.0), learning_rate=lr_scale)
    return nn.Conv2D(cin, cout, k, padding=k // 2, weight_attr=weight, bias_attr=bias)


class ESPCN(nn.Layer):
    """ESPCN on one (Y) channel: [B, 1, H, W] in [0, 1] -> [B, 1, sH, sW], not clamped.

    Args:
        scale: upscaling factor r.
        num_channels: image channels (1: Y, as the paper and yjn870).
        last_part_lr_scale: learning-rate multiplier of the last conv (yjn870 ``train.py`` gives
            ``last_part`` ``lr * 0.1``; the paper trains the last layer 10x slower).
    """

    def __init__(self, scale: int = 3, num_channels: int = 1, last_part_lr_scale: float = 0.1):
        super().__init__()
        if num_channels not in (1, 3):
            raise ValueError(f'ESPCN num_channels must be 1 (Y) or 3, got {num_channels}')
        self.scale = scale
        self.image_io = ImageIO(scale=scale, channels='y' if num_channels == 1 else 'rgb')

        def he_std(cout, k):  # yjn870: sqrt(2 / (out_channels * kh * kw))
            return math.sqrt(2.0 / (cout * k * k))
        self.first_part = nn.Sequential(
            _normal_conv(num_channels, 64, 5, he_std(64, 5)), nn.Tanh(),
            _normal_conv(64, 32, 3, he_std(32, 3)), nn.Tanh())
        # yjn870 initialises the conv whose in_channels == 32 (the last one) with N(0, 0.001)
        self.last_part = nn.Sequential(
            _normal_conv(32, num_channels * scale ** 2, 3, 0.001, last_part_lr_scale), PixelShuffle(scale))

    def forward(self, x):
        return self.last_part(self.first_part(x))


@MODELS.register()
def espcn_x2(**kwargs) -> ESPCN:
    """ESPCN x2 on Y, 21,284 parameters."""
    return ESPCN(scale=2, **kwargs)


@MODELS.register()
def espcn_x3(**kwargs) -> ESPCN:
    """ESPCN x3 on Y (the paper's main setting), 22,729 parameters."""
    return ESPCN(scale=3, **kwargs)


@MODELS.register()
def espcn_x4(**kwargs) -> ESPCN:
    """ESPCN x4 on Y, 24,752 parameters."""
    return ESPCN(scale=4, **kwargs)
