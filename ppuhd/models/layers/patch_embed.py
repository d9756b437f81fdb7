"""Image to patch tokens (timm ``layers/patch_embed.py``)."""
from typing import Tuple

import paddle
import paddle.nn as nn

from .helpers import to_2tuple


class PatchEmbed(nn.Layer):
    """Conv with kernel = stride = patch size, then flatten to ``[B, N, D]``.

    ``forward`` returns the tokens and the patch grid ``(gh, gw)`` of this input, so a model
    can resample its position embedding when the input size differs from ``img_size``.

    Args:
        img_size: training input size (int or (H, W)); sets ``grid_size`` and ``num_patches``.
        patch_size: patch side (int or (ph, pw)).
        in_chans: input channels.
        embed_dim: token width D.
    """

    def __init__(self, img_size: int = 224, patch_size: int = 16, in_chans: int = 3, embed_dim: int = 768):
        super().__init__()
        self.img_size = to_2tuple(img_size)
        self.patch_size = to_2tuple(patch_size)
        self.grid_size = tuple(s // p for s, p in zip(self.img_size, self.patch_size))
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2D(in_chans, embed_dim, self.patch_size, stride=self.patch_size)

    def forward(self, x) -> Tuple:
        if paddle.in_dynamic_mode() and (x.shape[2] % self.patch_size[0] or x.shape[3] % self.patch_size[1]):
            # as timm's PatchEmbed: a partial patch would be silently dropped by the strided conv
            raise ValueError(f'Input size {x.shape[2]}x{x.shape[3]} is not a multiple of the patch size '
                             f'{self.patch_size[0]}x{self.patch_size[1]}: resize or crop the input')
        x = self.proj(x)
        grid = (x.shape[2], x.shape[3])
        return x.flatten(2).transpose([0, 2, 1]), grid
