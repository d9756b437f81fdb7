"""UHDFour's export variant: the graph that ``tools/export.py`` saves (``UHDFour.deploy_layer()``).

It holds the :class:`~ppuhd.models.uhdfour.UHDFour` it was made from (its parameters, never copies) and
computes the same maps as ``UHDFour.forward``, equal to float round-off, in formulations that are
faster and lighter under Paddle Inference with dynamic batch, height and width (each measured,
docs/benchmarks.md):

* 1x1 convs run as matrix products, and the concatenations in front of them are never built (the
  matrix is split by input channels): oneDNN's conv caches a blocked copy of every input
  (``layers/pointwise.py``);
* LowNet's up-convs (1x1) run before the bilinear resize (both are linear, the bias is added once):
  1/4 of the pixels; resizes are interpolation-matrix products, the exact x8 ones strided slices and
  fixed two-tap phases (``layers/dynamic.py``); ``extract`` (1x1) runs after the 1/8 downsampling;
* amplitude and phase without the zero-gradient guards, and an inverse FFT whose width is only known
  at run time (``layers/fourier.py``);
* the full-resolution tail (``trans`` 1x1 then ``con_temp3`` 3x3) is folded into nine shifted
  3-channel matrix products: no 16-channel 4K tensor and no 4.8 GB im2col buffer.

It is never differentiated (the guards are left out): train ``UHDFour`` itself.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..inference import crop_to, pad_to_multiple
from .layers import (downsample_bilinear_inference, irfft2_inference, leaky_relu_of_conv, pixel_shuffle,
                     pixel_unshuffle, pointwise_concat_matmul, pointwise_matmul, polar_to_complex,
                     resize_bilinear_inference, rfft2_amplitude_phase_inference, spatial_size,
                     upsample_bilinear_inference)


def _pointwise(layer, x: paddle.Tensor) -> paddle.Tensor:
    """A ``PointwiseConv2D`` applied as a matrix product."""
    return pointwise_matmul(layer.matrix(), layer.bias, x)


def _unet_conv_block(block, x: paddle.Tensor) -> paddle.Tensor:
    """``UNetConvBlock.forward`` with the 1x1 identity path as a matrix product."""
    out_1, out_2 = paddle.chunk(block.conv_1(x), 2, axis=1)
    out = F.leaky_relu(paddle.concat([block.norm(out_1), out_2], axis=1), block.relu_slope)
    out = leaky_relu_of_conv(block.conv_2(out), block.relu_slope)
    return out + _pointwise(block.identity, x)


def _coupling(inv, x: paddle.Tensor):
    """``InvBlock.coupling``: the input halves and the output halves (x1, x2, y1, y2)."""
    x1, x2 = x[:, :inv.split1], x[:, inv.split1:]
    y1 = x1 + _unet_conv_block(inv.F, x2)
    s = inv.clamp * (F.sigmoid(_unet_conv_block(inv.H, y1)) * 2 - 1)
    y2 = x2 * paddle.exp(s) + _unet_conv_block(inv.G, y1)
    return x1, x2, y1, y2


def _mlp(seq, x: paddle.Tensor) -> paddle.Tensor:
    """``processmag`` / ``processpha`` (1x1, LeakyReLU, 1x1)."""
    conv_a, act, conv_b = seq
    return _pointwise(conv_b, act(_pointwise(conv_a, x)))


def _frequency(branch, mag, pha, guide_amp=None, guide_pha=None) -> paddle.Tensor:
    """``FreBlock`` / ``FreBlockAdjust.forward``: the processed spectrum."""
    if guide_amp is None:
        return polar_to_complex(_mlp(branch.processmag, mag), _mlp(branch.processpha, pha))
    sft = branch.sft
    mag = _mlp(branch.processmag, mag)
    mag = pointwise_concat_matmul(sft.convfuse, [mag, sft.convmul(guide_amp) * mag + sft.convadd(guide_amp)])
    pha = pointwise_concat_matmul(branch.cat, [guide_pha, _mlp(branch.processpha, pha)])
    return polar_to_complex(mag, pha)


def _process_block(block, x: paddle.Tensor, *guide) -> paddle.Tensor:
    """``ProcessBlock.forward`` without the concatenated tensors: cat(spa, fre) with spa = x + cat[y1, y2]."""
    spec = _frequency(block.frequency_process, *rfft2_amplitude_phase_inference(x), *guide)
    fre = irfft2_inference(spec, spatial_size(x))
    x1, x2, y1, y2 = _coupling(block.spatial_process.block, x)
    return pointwise_concat_matmul(block.cat, [x1 + y1, x2 + y2, fre]) + x


def _up(layer, x: paddle.Tensor, skip: paddle.Tensor) -> paddle.Tensor:
    """``LowNet._up``: ``layer``'s x columns run before the resize, at 1/4 of the pixels, no concatenation."""
    weight, c = layer.matrix(), x.shape[1]
    low = pointwise_matmul(weight[:, :c], None, x)
    return resize_bilinear_inference(low, spatial_size(skip)) + pointwise_matmul(weight[:, c:], layer.bias, skip)


def _lownet(net, x: paddle.Tensor):
    x01 = _process_block(net.conv1, _pointwise(net.conv0, x))
    x12 = _process_block(net.conv2, net.downsample1(x01))
    x3 = _process_block(net.conv3, net.downsample2(x12))
    x4 = _process_block(net.conv4, _up(net.up1, x3, x12))
    x5 = _process_block(net.conv5, _up(net.up2, x4, x01))
    xout = _pointwise(net.convout, x5)
    amp, pha = rfft2_amplitude_phase_inference(xout)
    return _pointwise(net.convoutfinal, xout), _pointwise(net.transamp, amp), _pointwise(net.transpha, pha)


def _highnet(net, x: paddle.Tensor, y_down, guide_amp, guide_pha) -> paddle.Tensor:
    feat = _process_block(net.conv1, pixel_unshuffle(x, net.factor), guide_amp, guide_pha)
    for block in net.extra:
        feat = _process_block(block, feat)
    y_up = upsample_bilinear_inference(y_down, net.factor)
    if not net.refine:
        return _folded_tail(net, pixel_shuffle(feat, net.factor), y_up)
    y = _pointwise(net.trans, paddle.concat([y_up, net.convout(pixel_shuffle(feat, net.factor))], axis=1))
    for conv in net.refine:
        y = conv(y)
    return net.con_temp3(y)


def _folded_tail(net, shuffled: paddle.Tensor, y_up: paddle.Tensor) -> paddle.Tensor:
    """``con_temp3(trans(cat[y_up, convout(shuffled)]))`` at full resolution (HighNet without refine convs).

    The same linear map, computed without its full-resolution 16-channel tensor and without
    im2col: Paddle's CPU conv unfolds a 3x3 conv of 16 channels at 4K into a 4.8 GB buffer.
    ``trans`` (1x1) is folded into each tap of ``con_temp3`` (W3[k] @ W1), and every 3x3 conv
    becomes nine shifted 3-channel matrix products. ``trans``'s bias only reaches the taps that
    fall inside the image (``con_temp3`` zero-pads), hence the border-aware bias map.
    """
    w3 = net.con_temp3.weight.transpose([2, 3, 0, 1])  # [3, 3, out, 16]
    w1 = net.trans.weight[:, :, 0, 0]  # [16, 6]
    fused = paddle.matmul(w3, w1)  # [3, 3, out, 6]: channels 0-2 act on y_up, 3-5 on convout
    xout = _conv3x3_taps(shuffled, net.convout.weight.transpose([2, 3, 0, 1])) + \
        net.convout.bias.reshape([1, -1, 1, 1])
    y = _conv3x3_taps(y_up, fused[:, :, :, :3]) + _conv3x3_taps(xout, fused[:, :, :, 3:])
    return y + _inside_bias(paddle.matmul(w3, net.trans.bias), spatial_size(y)) + \
        net.con_temp3.bias.reshape([1, -1, 1, 1])


def _conv3x3_taps(x: paddle.Tensor, taps: paddle.Tensor) -> paddle.Tensor:
    """Zero-padded 3x3 conv (no bias) as nine shifted matrix products; ``taps`` is [3, 3, out, in]."""
    h, w = spatial_size(x)
    padded = F.pad(x, [1, 1, 1, 1])
    out = None
    for i in range(3):
        for j in range(3):
            shifted = padded[:, :, i:i + h, j:j + w].reshape([0, 0, -1])  # [B, in, H*W]; reshape shares the slice
            part = paddle.matmul(taps[i, j], shifted)
            out = part if out is None else out + part
    return out.reshape([0, 0, h, w])


def _inside_bias(tap_bias: paddle.Tensor, size) -> paddle.Tensor:
    """[1, out, H, W]: sum of ``tap_bias[i, j]`` ([3, 3, out]) over the taps whose source pixel is inside."""
    def inside(n):  # [3, n]: is row r + i - 1 within [0, n)?
        idx = paddle.arange(n).unsqueeze(0) + paddle.arange(3).unsqueeze(1) - 1
        return paddle.logical_and(idx >= 0, idx < n).astype('float32')
    rows, cols = inside(size[0]), inside(size[1])
    per_row = paddle.matmul(tap_bias.transpose([2, 0, 1]), cols)  # [out, 3 (i), W]
    return paddle.matmul(rows.t(), per_row).unsqueeze(0)  # [out, H, W]


class UHDFourDeploy(nn.Layer):
    """``UHDFour.forward`` in the export formulation (see the module docstring): ``(y, y_down)``.

    Args:
        model: the UHDFour whose parameters this layer computes with.
    """

    def __init__(self, model: nn.Layer):
        super().__init__()
        self.model = model

    def forward(self, x):
        m = self.model
        x, (h, w) = pad_to_multiple(x, m.factor)
        # the same linear maps as extract-then-downsample, in the other order: 1/factor^2 of the pixels
        feat = _pointwise(m.extract, downsample_bilinear_inference(x, m.factor))
        y_down, amp, pha = _lownet(m.lownet, feat)
        y = _highnet(m.highnet, x, y_down, amp, pha)
        return crop_to(y, (h, w)), crop_to(y_down, (-(-h // m.factor), -(-w // m.factor)))
