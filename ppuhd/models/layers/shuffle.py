"""Pixel (un)shuffle as reshape + transpose.

Same channel order as ``torch.nn.PixelShuffle`` / ``PixelUnshuffle`` (and
Paddle's own layers), written with reshape/transpose because Paddle's
``PixelUnshuffle`` shape check rejects the -1 dims of a graph exported with
dynamic height and width (see FACTS, Paddle 3 traps).
"""
import paddle


def pixel_unshuffle(x: paddle.Tensor, factor: int) -> paddle.Tensor:
    """[B, C, H, W] -> [B, C*f*f, H/f, W/f]."""
    b, c, h, w = x.shape
    x = x.reshape([b, c, h // factor, factor, w // factor, factor])
    x = x.transpose([0, 1, 3, 5, 2, 4])
    return x.reshape([b, c * factor * factor, h // factor, w // factor])


def pixel_shuffle(x: paddle.Tensor, factor: int) -> paddle.Tensor:
    """[B, C*f*f, H, W] -> [B, C, H*f, W*f]."""
    b, c, h, w = x.shape
    out_c = c // (factor * factor)
    x = x.reshape([b, out_c, factor, factor, h, w])
    x = x.transpose([0, 1, 4, 2, 5, 3])
    return x.reshape([b, out_c, h * factor, w * factor])
