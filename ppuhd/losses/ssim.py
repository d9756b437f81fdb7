"""Differentiable SSIM loss, as the official UHDFour training (``src/pytorch_ssim/__init__.py``).

That implementation differs from :func:`ppuhd.metrics.ssim` on purpose and is reproduced
as is: the Gaussian-weighted statistics use a depthwise convolution with ZERO padding of
``window_size // 2`` (so borders see a dark frame), nothing is cropped, the constants are
fixed for a data range of 1 (C1 = 0.01^2, C2 = 0.03^2) and the map is averaged over
batch, channels and pixels.

The official 2-D window is the outer product of 1-D taps, so the blur runs as a row pass then a column pass
(the same zero-padded result up to float rounding: 2k instead of k^2 multiply-adds per pixel). Paddle's CPU
depthwise convolution is a plain loop: the 11x11 form was 17 % of a UHDFour demo training step, the
separable form is 6x faster (docs/benchmarks.md, "Training step profile").
"""
import math

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..registry import LOSSES


def gaussian_taps(window_size: int = 11, sigma: float = 1.5) -> paddle.Tensor:
    """Normalized 1-D Gaussian, shape [k]: ``exp(-(x - k//2)^2 / 2 sigma^2) / sum``; the official 2-D window is
    their outer product."""
    taps = paddle.to_tensor([math.exp(-(x - window_size // 2) ** 2 / (2.0 * sigma ** 2))
                             for x in range(window_size)], dtype='float32')
    return taps / taps.sum()


def _mean_ssim(pred: paddle.Tensor, target: paddle.Tensor, taps: paddle.Tensor) -> paddle.Tensor:
    """Gaussian-window SSIM map of NCHW batches (separable depthwise blur, zero padding), averaged over everything."""
    if pred.shape != target.shape or pred.ndim != 4:
        raise ValueError(f'expected two NCHW tensors of the same shape, got {pred.shape} and {target.shape}')
    channels, k = pred.shape[1], taps.shape[0]
    taps = taps.astype(pred.dtype)
    rows = taps.reshape([1, 1, 1, k]).expand([channels, 1, 1, k])
    cols = taps.reshape([1, 1, k, 1]).expand([channels, 1, k, 1])

    def blur(x):
        x = F.conv2d(x, rows, padding=[0, k // 2], groups=channels)
        return F.conv2d(x, cols, padding=[k // 2, 0], groups=channels)

    mu1, mu2 = blur(pred), blur(target)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = blur(pred * pred) - mu1_sq
    sigma2_sq = blur(target * target) - mu2_sq
    sigma12 = blur(pred * target) - mu1_mu2
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ssim_map = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / ((mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2))
    return ssim_map.mean()


def ssim_paddle(pred: paddle.Tensor, target: paddle.Tensor, window_size: int = 11,
                sigma: float = 1.5) -> paddle.Tensor:
    """Mean SSIM of two NCHW batches in [0, 1], as the official ``pytorch_ssim.ssim`` (scalar tensor)."""
    return _mean_ssim(pred, target, gaussian_taps(window_size, sigma))


@LOSSES.register()
class SSIMLoss(nn.Layer):
    """``1 - SSIM(pred, target)`` with the official UHDFour ``pytorch_ssim`` conventions.

    Args:
        window_size: width of the Gaussian window (odd).
        sigma: its standard deviation (the official code hard-codes 1.5).
    """

    def __init__(self, window_size: int = 11, sigma: float = 1.5):
        super().__init__()
        if window_size % 2 != 1:
            raise ValueError(f'window_size must be odd, got {window_size}')
        self.window_size = window_size
        self.sigma = sigma
        # a constant, not state: kept out of state_dict so checkpoints do not depend on it
        self.register_buffer('taps', gaussian_taps(window_size, sigma), persistable=False)

    def forward(self, pred: paddle.Tensor, target: paddle.Tensor) -> paddle.Tensor:
        return 1.0 - _mean_ssim(pred, target, self.taps)

    def extra_repr(self) -> str:
        return f'window_size={self.window_size}, sigma={self.sigma}'
