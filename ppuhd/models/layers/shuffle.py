"""Pixel (un)shuffle as reshape + transpose, for graphs with dynamic H and W.

Same channel order (and values, bit for bit) as ``torch.nn.PixelShuffle`` / ``PixelUnshuffle``
and Paddle's ``F.pixel_shuffle`` / ``F.pixel_unshuffle``, which a model's ``forward`` uses; written
with reshape/transpose for export variants because Paddle's ``PixelUnshuffle`` shape check rejects
the -1 dims of a graph exported with dynamic height and width (see FACTS, Paddle 3 traps). Batch,
H and W may be unknown at export time (the channel count is always known).
"""
import paddle
import paddle.nn as nn

from .dynamic import spatial_size


def pixel_unshuffle(x: paddle.Tensor, factor: int) -> paddle.Tensor:
    """[B, C, H, W] -> [B, C*f*f, H/f, W/f]."""
    c, (h, w) = x.shape[1], spatial_size(x)
    x = x.reshape([-1, c, h // factor, factor, w // factor, factor])
    x = x.transpose([0, 1, 3, 5, 2, 4])
    return x.reshape([-1, c * factor * factor, h // factor, w // factor])


def pixel_shuffle(x: paddle.Tensor, factor: int) -> paddle.Tensor:
    """[B, C*f*f, H, W] -> [B, C, H*f, W*f]."""
    c, (h, w) = x.shape[1], spatial_size(x)
    out_c = c // (factor * factor)
    x = x.reshape([-1, out_c, factor, factor, h, w])
    x = x.transpose([0, 1, 4, 2, 5, 3])
    return x.reshape([-1, out_c, h * factor, w * factor])


class PixelShuffle(nn.Layer):
    """``nn.PixelShuffle`` as reshape + transpose (exports with dynamic H and W).

    Args:
        factor: upscaling factor.
    """

    def __init__(self, factor: int = 2):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return pixel_shuffle(x, self.factor)
