"""A toy x2 super-resolution model for contract tests: block-local, needs H and W multiples of 4, pads nothing.

Each 4x4 input block maps to the 8x8 output block at twice its position (pixel-unshuffle 4, a 1x1 conv,
pixel-shuffle 8), so any padding, tiling or export mistake shows as a mismatch at a known place, and
tiles aligned to 4 reproduce the whole image exactly.
"""
import paddle.nn as nn

from ppuhd.inference import ImageIO
from ppuhd.models.layers import pixel_shuffle, pixel_unshuffle
from ppuhd.registry import MODELS


class ToySR(nn.Layer):
    """x2 block-local SR (see the module docstring)."""

    def __init__(self):
        super().__init__()
        self.image_io = ImageIO(scale=2, size_multiple=4, min_size=4, pads_itself=False)
        self.body = nn.Conv2D(3 * 16, 3 * 64, 1)

    def forward(self, x):
        return pixel_shuffle(self.body(pixel_unshuffle(x, 4)), 8)


if 'toy_sr_x2' not in MODELS:
    MODELS.register(lambda: ToySR(), name='toy_sr_x2')
