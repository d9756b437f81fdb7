"""UHDFour: Fourier-domain ultra-high-definition low-light enhancement.

Paper: Chongyi Li et al., "Embedding Fourier for Ultra-High-Definition Low-Light
Image Enhancement", ICLR 2023.  Official code: https://github.com/Li-Chongyi/UHDFour_code
(``src/EnhanceN_arch.py`` for UHD-LL, ``src/EnhanceN_arch_LOL.py`` for LOL).

Only the modules that the official ``forward`` reaches are built, so the
parameter count is 17,537,370 for the UHD variant (the official state dict also
carries unused convolutions; ``ppuhd.models.convert`` drops and lists them).
Module names follow the official code so weight conversion is a tiny key map.

``forward`` is the one formulation for training and evaluation (in dygraph or traced by
``paddle.jit.to_static``). ``UHDFour.deploy_layer()`` gives the export variant
(``uhdfour_deploy.py``): the same parameters and values in a graph formulation that is faster and
lighter under Paddle Inference with dynamic image sizes.
"""
from typing import Tuple

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..inference import ImageIO, crop_to, pad_to_multiple
from ..registry import MODELS
from .layers import (PointwiseConv2D, PointwiseConv2DTranspose, downsample_bilinear, irfft2, polar_to_complex,
                     resize_bilinear, rfft2_amplitude_phase, torch_default_init_, upsample_bilinear)
from .uhdfour_deploy import UHDFourDeploy


def _conv(cin: int, cout: int, k: int = 1, stride: int = 1) -> nn.Conv2D:
    if k == 1:  # a matrix product in the export variant (see layers/pointwise.py)
        return PointwiseConv2D(cin, cout)
    return nn.Conv2D(cin, cout, k, stride=stride, padding=(k // 2 if stride == 1 else 0))


class UNetConvBlock(nn.Layer):
    """conv3x3 -> half-instance-norm -> LeakyReLU -> conv3x3 -> LeakyReLU, plus a 1x1 identity path.

    Args:
        in_size: input channels.
        out_size: output channels.
        relu_slope: negative slope of both LeakyReLUs.
    """

    def __init__(self, in_size: int, out_size: int, relu_slope: float = 0.1):
        super().__init__()
        self.identity = _conv(in_size, out_size, 1)
        self.conv_1 = _conv(in_size, out_size, 3)
        self.conv_2 = _conv(out_size, out_size, 3)
        self.norm = nn.InstanceNorm2D(out_size // 2)
        self.relu_slope = relu_slope

    def forward(self, x):
        out = self.conv_1(x)
        out_1, out_2 = paddle.chunk(out, 2, axis=1)
        out = paddle.concat([self.norm(out_1), out_2], axis=1)
        out = F.leaky_relu(out, self.relu_slope)
        out = F.leaky_relu(self.conv_2(out), self.relu_slope)
        return out + self.identity(x)


class InvBlock(nn.Layer):
    """Affine-coupling block (y1 = x1 + F(x2); y2 = x2 * exp(s) + G(y1)).

    Args:
        channels: input (= output) channels.
        clamp: bound of the log-scale s = clamp * (2 * sigmoid(H(y1)) - 1).
    """

    def __init__(self, channels: int, clamp: float = 0.8):
        super().__init__()
        self.split1 = channels // 2
        self.split2 = channels - self.split1
        self.clamp = clamp
        self.F = UNetConvBlock(self.split2, self.split1)
        self.G = UNetConvBlock(self.split1, self.split2)
        self.H = UNetConvBlock(self.split1, self.split2)

    def coupling(self, x):
        """The input halves and the output halves: (x1, x2, y1, y2)."""
        x1, x2 = x[:, :self.split1], x[:, self.split1:]
        y1 = x1 + self.F(x2)
        s = self.clamp * (F.sigmoid(self.H(y1)) * 2 - 1)
        y2 = x2 * paddle.exp(s) + self.G(y1)
        return x1, x2, y1, y2

    def forward(self, x):
        return paddle.concat(self.coupling(x)[2:], axis=1)


class SpaBlock(nn.Layer):
    """Spatial branch: x + InvBlock(x).

    Args:
        nc: channels.
    """

    def __init__(self, nc: int):
        super().__init__()
        self.block = InvBlock(nc)

    def forward(self, x):
        return x + self.block(x)


def _mag_pha_mlp(nc: int) -> nn.Sequential:
    return nn.Sequential(_conv(nc, nc), nn.LeakyReLU(0.1), _conv(nc, nc))


class FreBlock(nn.Layer):
    """Frequency branch: 1x1 conv MLPs on amplitude and phase.

    Args:
        nc: channels.
    """

    def __init__(self, nc: int):
        super().__init__()
        self.processmag = _mag_pha_mlp(nc)
        self.processpha = _mag_pha_mlp(nc)

    def forward(self, mag, pha):
        return polar_to_complex(self.processmag(mag), self.processpha(pha))


class SFT(nn.Layer):
    """Spatial feature transform of ``x`` conditioned on ``cond``: fuse(cat[x, mul(cond)*x + add(cond)]).

    Args:
        nc: channels.
    """

    def __init__(self, nc: int):
        super().__init__()
        self.convmul = _conv(nc, nc, 3)
        self.convadd = _conv(nc, nc, 3)
        self.convfuse = _conv(2 * nc, nc, 1)

    def forward(self, x, cond):
        return self.convfuse(paddle.concat([x, self.convmul(cond) * x + self.convadd(cond)], axis=1))


class FreBlockAdjust(FreBlock):
    """Frequency branch guided by the low-resolution amplitude and phase.

    Args:
        nc: channels.
    """

    def __init__(self, nc: int):
        super().__init__(nc)
        self.sft = SFT(nc)
        self.cat = _conv(2 * nc, nc, 1)

    def forward(self, mag, pha, guide_amp, guide_pha):
        mag = self.sft(self.processmag(mag), guide_amp)
        pha = self.cat(paddle.concat([guide_pha, self.processpha(pha)], axis=1))
        return polar_to_complex(mag, pha)


class ProcessBlock(nn.Layer):
    """FouSpa block: spatial InvBlock and Fourier branch, fused by a 1x1 conv, plus the input.

    Args:
        nc: channels.
        guided: use the amplitude/phase-guided Fourier branch (HighNet's adjust block).
    """

    def __init__(self, nc: int, guided: bool = False):
        super().__init__()
        self.spatial_process = SpaBlock(nc)
        self.frequency_process = FreBlockAdjust(nc) if guided else FreBlock(nc)
        self.cat = _conv(2 * nc, nc, 1)

    def forward(self, x, *guide):
        fre = irfft2(self.frequency_process(*rfft2_amplitude_phase(x), *guide), x.shape[-2:])
        spa = self.spatial_process(x)
        return self.cat(paddle.concat([spa, fre], axis=1)) + x


class LowNet(nn.Layer):
    """U-shaped network on the 1/r image; returns (image, amplitude guide, phase guide).

    Args:
        in_nc: input channels.
        nc: width at the first level (then 2*nc and 3*nc).
        guide_nc: channels of the amplitude/phase guides (3 * r * r).
    """

    def __init__(self, in_nc: int, nc: int, guide_nc: int):
        super().__init__()
        self.conv0 = _conv(in_nc, nc)
        self.conv1 = ProcessBlock(nc)
        self.downsample1 = _conv(nc, nc * 2, 2, stride=2)
        self.conv2 = ProcessBlock(nc * 2)
        self.downsample2 = _conv(nc * 2, nc * 3, 2, stride=2)
        self.conv3 = ProcessBlock(nc * 3)
        self.up1 = PointwiseConv2DTranspose(nc * 5, nc * 2)
        self.conv4 = ProcessBlock(nc * 2)
        self.up2 = PointwiseConv2DTranspose(nc * 3, nc)
        self.conv5 = ProcessBlock(nc)
        self.convout = _conv(nc, guide_nc)
        self.convoutfinal = _conv(guide_nc, 3)
        self.transamp = _conv(guide_nc, guide_nc)
        self.transpha = _conv(guide_nc, guide_nc)

    @staticmethod
    def _up(layer, x, skip):
        """``layer`` (1x1) on cat[bilinear(x to the size of skip), skip]."""
        return layer(paddle.concat([resize_bilinear(x, skip.shape[-2:]), skip], axis=1))

    def forward(self, x):
        x01 = self.conv1(self.conv0(x))
        x12 = self.conv2(self.downsample1(x01))
        x3 = self.conv3(self.downsample2(x12))
        x4 = self.conv4(self._up(self.up1, x3, x12))
        x5 = self.conv5(self._up(self.up2, x4, x01))
        xout = self.convout(x5)
        amp, pha = rfft2_amplitude_phase(xout)
        return self.convoutfinal(xout), self.transamp(amp), self.transpha(pha)


class HighNet(nn.Layer):
    """Full-resolution branch: pixel-unshuffle, guided Fourier block(s), pixel-shuffle, refinement.

    Args:
        factor: pixel-unshuffle factor r (8 for UHD, 2 for LOL).
        extra_blocks: plain ProcessBlocks after the guided one (0 for UHD, 2 for LOL).
        refine_nc: channels of the refinement convs (16 for UHD, 32 for LOL).
        refine_convs: 3x3 convs between ``trans`` and ``con_temp3`` (0 for UHD, 2 for LOL).
    """

    def __init__(self, factor: int = 8, extra_blocks: int = 0, refine_nc: int = 16, refine_convs: int = 0):
        super().__init__()
        nc = 3 * factor * factor
        self.factor = factor
        self.conv1 = ProcessBlock(nc, guided=True)
        # Official names: conv3, conv4 (LOL only); con_temp1, con_temp2 (LOL only, no activation between).
        self.extra = [self.add_sublayer(f'conv{3 + i}', ProcessBlock(nc)) for i in range(extra_blocks)]
        self.convout = _conv(3, 3, 3)
        self.trans = _conv(6, refine_nc, 1)
        self.refine = [self.add_sublayer(f'con_temp{1 + i}', _conv(refine_nc, refine_nc, 3))
                       for i in range(refine_convs)]
        self.con_temp3 = _conv(refine_nc, 3, 3)

    def forward(self, x, y_down, guide_amp, guide_pha):
        feat = self.conv1(F.pixel_unshuffle(x, self.factor), guide_amp, guide_pha)
        for block in self.extra:
            feat = block(feat)
        y_up = upsample_bilinear(y_down, self.factor)
        xout = self.convout(F.pixel_shuffle(feat, self.factor))
        y = self.trans(paddle.concat([y_up, xout], axis=1))
        for conv in self.refine:
            y = conv(y)
        return self.con_temp3(y)


class UHDFour(nn.Layer):
    """UHDFour (official ``InteractNet``).

    ``forward`` takes an image batch in [0, 1] of any height and width (reflect-padded
    to a multiple of ``factor`` inside, then cropped back) and returns ``(y, y_down)``:
    the enhanced image and the enhanced 1/``factor`` image (ceil(H/factor) x ceil(W/factor)).

    Args:
        nc: base width; LowNet runs at ``12 * nc`` channels and the input is lifted to ``nc // 2``.
        factor: resolution ratio between HighNet and LowNet (8 for UHD, 2 for LOL).
        extra_blocks: see :class:`HighNet`.
        refine_nc: see :class:`HighNet`.
        refine_convs: see :class:`HighNet`.
    """

    def __init__(self, nc: int = 16, factor: int = 8, extra_blocks: int = 0, refine_nc: int = 16,
                 refine_convs: int = 0):
        super().__init__()
        self.factor = factor
        # forward reflect-pads to a multiple of factor and crops back; the smallest side an exported graph
        # serves is 2 * factor (equal to dygraph from 16 px for UHD; LowNet runs at 1/factor)
        self.image_io = ImageIO(size_multiple=factor, min_size=2 * factor, pads_itself=True)
        self.extract = _conv(3, nc // 2)
        self.lownet = LowNet(nc // 2, nc * 12, 3 * factor * factor)
        self.highnet = HighNet(factor, extra_blocks, refine_nc, refine_convs)
        torch_default_init_(self)  # the official model trains from PyTorch's default init

    def forward(self, x) -> Tuple[paddle.Tensor, paddle.Tensor]:
        # any size: reflect-pad to a multiple of ``factor`` (a no-op for training crops), crop back
        x, (h, w) = pad_to_multiple(x, self.factor)
        feat = downsample_bilinear(self.extract(x), self.factor)
        y_down, amp, pha = self.lownet(feat)
        y = self.highnet(x, y_down, amp, pha)
        return crop_to(y, (h, w)), crop_to(y_down, (-(-h // self.factor), -(-w // self.factor)))

    def deploy_layer(self) -> nn.Layer:
        """The export variant: this model's parameters (shared, not copied) in the graph formulation of
        :class:`~ppuhd.models.uhdfour_deploy.UHDFourDeploy`, for ``EnhancementTask.export_layer()``."""
        return UHDFourDeploy(self)


@MODELS.register()
def uhdfour(**kwargs) -> UHDFour:
    """UHDFour for UHD-LL (official ``EnhanceN_arch.py``), 17,537,370 parameters."""
    return UHDFour(**kwargs)


@MODELS.register()
def uhdfour_lol(**kwargs) -> UHDFour:
    """UHDFour for LOL (official ``EnhanceN_arch_LOL.py``): factor 2, two extra blocks, wider refinement."""
    return UHDFour(**{'factor': 2, 'extra_blocks': 2, 'refine_nc': 32, 'refine_convs': 2, **kwargs})
