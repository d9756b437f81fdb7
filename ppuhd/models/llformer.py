"""LLFormer: axis-based transformer for ultra-high-definition low-light enhancement.

Wang et al., "Ultra-High-Definition Low-Light Image Enhancement: A Benchmark and
Transformer-Based Method", AAAI 2023 (arXiv:2212.11548). Official code:
https://github.com/TaoWangzj/LLFormer (``model/LLFormer.py``). Module names follow the
official ones so converted state dicts load by name. The official model builds two tensors
that ``forward`` never uses (``coefficient`` and ``skip_2_1``, 2,048 parameters); they are
not built here (the converter drops them).
"""
from typing import Sequence

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..inference import ImageIO, crop_to, pad_to_multiple
from ..registry import MODELS
from .layers import pixel_shuffle, pixel_unshuffle, torch_default_init_


def _conv(cin: int, cout: int, k: int = 1, bias: bool = False, groups: int = 1) -> nn.Conv2D:
    return nn.Conv2D(cin, cout, k, padding=k // 2, groups=groups, bias_attr=None if bias else False)


def _ones_param(layer: nn.Layer, shape: Sequence[int], trainable: bool = True):
    param = layer.create_parameter(list(shape), default_initializer=nn.initializer.Constant(1.0))
    param.stop_gradient = not trainable
    return param


class _BiasFreeLayerNorm(nn.Layer):
    """``x / sqrt(var + 1e-5) * weight`` over the last axis (official ``BiasFree_LayerNorm``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = _ones_param(self, [dim])

    def forward(self, x):
        return x / paddle.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-5) * self.weight


class LayerNorm2d(nn.Layer):
    """LayerNorm over the channels of each pixel of an NCHW map, eps 1e-5 (official ``LayerNorm``).

    Args:
        dim: number of channels.
        layernorm_type: ``'WithBias'`` (released) or ``'BiasFree'``.
    """

    def __init__(self, dim: int = 16, layernorm_type: str = 'WithBias'):
        super().__init__()
        if layernorm_type not in ('WithBias', 'BiasFree'):
            raise ValueError(f"layernorm_type must be 'WithBias' or 'BiasFree', got {layernorm_type!r}")
        self.body = nn.LayerNorm(dim, epsilon=1e-5) if layernorm_type == 'WithBias' else _BiasFreeLayerNorm(dim)

    def forward(self, x):
        return self.body(x.transpose([0, 2, 3, 1])).transpose([0, 3, 1, 2])


class AxisAttention1d(nn.Layer):
    """Multi-head attention along W within each row (official ``NextAttentionImplZ``).

    q, k are L2-normalised over the head dim and scaled by a learnable ``fac`` (init 1, no
    ``dh ** -0.5``: the official line is commented out). The official block passes no ``bias``
    to it, so its convs always have biases, whatever the model's ``bias``.

    Args:
        dim: channels.
        num_heads: attention heads (``dim`` must divide).
    """

    def __init__(self, dim: int = 16, num_heads: int = 1):
        super().__init__()
        self.num_heads = num_heads
        self.q1 = _conv(dim, dim * 3, 1, bias=True)
        self.q2 = _conv(dim * 3, dim * 3, 3, bias=True, groups=dim * 3)
        self.q3 = _conv(dim * 3, dim * 3, 3, bias=True, groups=dim * 3)
        self.fac = _ones_param(self, [1])
        self.fin = _conv(dim, dim, 1, bias=True)

    def forward(self, x):
        n, c, h, w = x.shape
        nh, dh = self.num_heads, c // self.num_heads

        def rows(t):  # n (nh dh) h w -> (n nh h) w dh
            return t.reshape([n, nh, dh, h, w]).transpose([0, 1, 3, 4, 2]).reshape([n * nh * h, w, dh])

        q, k, v = (rows(t) for t in self.q3(self.q2(self.q1(x))).chunk(3, axis=1))
        q, k = F.normalize(q, axis=-1), F.normalize(k, axis=-1)
        attn = F.softmax(paddle.matmul(q, k, transpose_y=True) * self.fac, axis=-1)
        out = paddle.matmul(attn, v).reshape([n, nh, h, w, dh]).transpose([0, 1, 4, 2, 3]).reshape([n, c, h, w])
        return self.fin(out)


class AxisAttention(nn.Layer):
    """Row attention, then column attention on the transposed map (official ``NextAttentionZ``).

    Args:
        dim: channels.
        num_heads: attention heads.
    """

    def __init__(self, dim: int = 16, num_heads: int = 1):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim {dim} is not divisible by num_heads {num_heads}')
        self.row_att = AxisAttention1d(dim, num_heads)
        self.col_att = AxisAttention1d(dim, num_heads)

    def forward(self, x):
        x = self.row_att(x).transpose([0, 1, 3, 2])
        return self.col_att(x).transpose([0, 1, 3, 2])


class DualGatedFeedForward(nn.Layer):
    """DGFN: ``gelu(x2) * x1 + gelu(x1) * x2`` after a 1x1 and a depthwise 3x3 (exact GELU).

    Args:
        dim: channels.
        expansion: hidden width is ``int(dim * expansion)``.
        bias: conv biases.
    """

    def __init__(self, dim: int = 16, expansion: float = 2.66, bias: bool = False):
        super().__init__()
        hidden = int(dim * expansion)
        self.project_in = _conv(dim, hidden * 2, 1, bias)
        self.dwconv = _conv(hidden * 2, hidden * 2, 3, bias, groups=hidden * 2)
        self.project_out = _conv(hidden, dim, 1, bias)

    def forward(self, x):
        x1, x2 = self.dwconv(self.project_in(x)).chunk(2, axis=1)
        return self.project_out(F.gelu(x2) * x1 + F.gelu(x1) * x2)


class TransformerBlock(nn.Layer):
    """Pre-norm ``x + attn(LN(x))``, ``x + DGFN(LN(x))``.

    Args:
        dim: channels.
        num_heads: attention heads.
        expansion: DGFN expansion factor.
        bias: DGFN conv biases (the attention always has biases, as the official block).
        layernorm_type: ``'WithBias'`` or ``'BiasFree'``.
    """

    def __init__(self, dim: int = 16, num_heads: int = 1, expansion: float = 2.66, bias: bool = False,
                 layernorm_type: str = 'WithBias'):
        super().__init__()
        self.norm1 = LayerNorm2d(dim, layernorm_type)
        self.attn = AxisAttention(dim, num_heads)
        self.norm2 = LayerNorm2d(dim, layernorm_type)
        self.ffn = DualGatedFeedForward(dim, expansion, bias)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class LayerAttention(nn.Layer):
    """Cross-layer attention fusion (official ``LAM_Module_v2``) of N stacked feature maps.

    q, k, v are flattened over C*H*W of the whole image, so the output depends on the
    entire input: tiled and whole-image results differ.

    Args:
        dim: channels of the concatenated maps (N * C).
    """

    def __init__(self, dim: int = 48):
        super().__init__()
        self.temperature = _ones_param(self, [1])
        self.qkv = _conv(dim, dim * 3, 1, bias=True)
        self.qkv_dwconv = _conv(dim * 3, dim * 3, 3, bias=True, groups=dim * 3)
        self.project_out = _conv(dim, dim, 1, bias=True)

    def forward(self, x):
        b, n, c, h, w = x.shape
        flat = x.reshape([b, n * c, h, w])
        q, k, v = (t.reshape([b, n, -1]) for t in self.qkv_dwconv(self.qkv(flat)).chunk(3, axis=1))
        q, k = F.normalize(q, axis=-1), F.normalize(k, axis=-1)
        attn = F.softmax(paddle.matmul(q, k, transpose_y=True) * self.temperature, axis=-1)
        out = self.project_out(paddle.matmul(attn, v).reshape([b, n * c, h, w]))
        return out + flat


class _Shuffle(nn.Layer):
    def __init__(self, factor: int, down: bool):
        super().__init__()
        self.factor, self.down = factor, down

    def forward(self, x):
        return pixel_unshuffle(x, self.factor) if self.down else pixel_shuffle(x, self.factor)


class Downsample(nn.Layer):
    """conv3x3 n -> n/2, PixelUnshuffle(2): half the size, twice the channels.

    Args:
        n_feat: input channels.
    """

    def __init__(self, n_feat: int = 16):
        super().__init__()
        self.body = nn.Sequential(_conv(n_feat, n_feat // 2, 3), _Shuffle(2, down=True))

    def forward(self, x):
        return self.body(x)


class Upsample(nn.Layer):
    """conv3x3 n -> 2n, PixelShuffle(2): twice the size, half the channels.

    Args:
        n_feat: input channels.
    """

    def __init__(self, n_feat: int = 32):
        super().__init__()
        self.body = nn.Sequential(_conv(n_feat, n_feat * 2, 3), _Shuffle(2, down=False))

    def forward(self, x):
        return self.body(x)


def _fuse(coef: paddle.Tensor, skip: paddle.Tensor, up: paddle.Tensor) -> paddle.Tensor:
    """Weighted skip ``coef[0] * skip + coef[1] * up``, per channel."""
    return coef[0].reshape([1, -1, 1, 1]) * skip + coef[1].reshape([1, -1, 1, 1]) * up


class LLFormer(nn.Layer):
    """LLFormer (official ``LLFormer``); any H, W (reflect-padded to 16 inside, cropped back).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        dim: width of level 0; levels 1-4 have 2, 4, 8, 16 times as many channels.
        num_blocks: blocks per level; the 3 encoders, the latent and levels 1 use ``num_blocks[0]``,
            level 2 ``[1]``, level 3 ``[2]``, level 4 ``[3]`` (as the official code).
        num_refinement_blocks: blocks in each of the 3 refinement stages.
        heads: attention heads; level 0 uses ``heads[0]``, 1 ``[1]``, 2 ``[2]``, 3 and 4 ``[3]``.
        ffn_expansion_factor: DGFN expansion.
        bias: conv biases outside the attention modules.
        layernorm_type: ``'WithBias'`` or ``'BiasFree'``.
        attention: train the weighted-skip coefficients (official ``requires_grad=attention``).
        skip: add the input to the output (the released models use ``False``).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, dim: int = 16,
                 num_blocks: Sequence[int] = (2, 4, 8, 16), num_refinement_blocks: int = 2,
                 heads: Sequence[int] = (1, 2, 4, 8), ffn_expansion_factor: float = 2.66, bias: bool = False,
                 layernorm_type: str = 'WithBias', attention: bool = True, skip: bool = False):
        super().__init__()
        self.image_io = ImageIO(size_multiple=16, pads_itself=True)  # four 2x downsamplings; reflect pad inside
        self.skip = skip

        def stage(width, n, nh):
            return nn.Sequential(*[TransformerBlock(width, nh, ffn_expansion_factor, bias, layernorm_type)
                                   for _ in range(n)])

        d, nb = dim, num_blocks
        self.patch_embed = nn.Layer()
        self.patch_embed.proj = _conv(in_channels, d, 3, bias=False)  # official OverlapPatchEmbed: bias=False
        self.encoder_1, self.encoder_2, self.encoder_3 = (stage(d, nb[0], heads[0]) for _ in range(3))
        self.layer_fussion = LayerAttention(d * 3)
        self.conv_fuss = _conv(d * 3, d, 1, bias)
        self.latent = stage(d, nb[0], heads[0])
        self.down_1, self.decoder_level1_0 = Downsample(d), stage(d * 2, nb[0], heads[1])
        self.down_2, self.decoder_level2_0 = Downsample(d * 2), stage(d * 4, nb[1], heads[2])
        self.down_3, self.decoder_level3_0 = Downsample(d * 4), stage(d * 8, nb[2], heads[3])
        self.down_4, self.decoder_level4 = Downsample(d * 8), stage(d * 16, nb[3], heads[3])
        self.up4_3, self.decoder_level3_1 = Upsample(d * 16), stage(d * 8, nb[2], heads[3])
        self.up3_2, self.decoder_level2_1 = Upsample(d * 8), stage(d * 4, nb[1], heads[2])
        self.up2_1, self.decoder_level1_1 = Upsample(d * 4), stage(d * 2, nb[0], heads[1])
        self.up2_0 = Upsample(d * 2)
        for name, width in (('4_3', d * 8), ('3_2', d * 4), ('2_1', d * 2), ('1_0', d)):
            setattr(self, f'coefficient_{name}', _ones_param(self, [2, width], trainable=attention))
        self.skip_4_3, self.skip_3_2 = _conv(d * 8, d * 8, 1, bias), _conv(d * 4, d * 4, 1, bias)
        # the official level-1 skip uses skip_1_0 (2d -> 2d); its skip_2_1 is built but never called
        self.skip_1_0 = _conv(d * 2, d * 2, 1, bias)
        self.refinement_1, self.refinement_2, self.refinement_3 = (
            stage(d, num_refinement_blocks, heads[0]) for _ in range(3))
        self.layer_fussion_2 = LayerAttention(d * 3)
        self.conv_fuss_2 = _conv(d * 3, d, 1, bias)
        self.output = _conv(d, out_channels, 3, bias)
        torch_default_init_(self)  # the official model trains from PyTorch's default init

    def _fused(self, stages, lam, conv, x):
        outs = []
        for stage in stages:
            x = stage(x)
            outs.append(x)
        return conv(lam(paddle.stack(outs, axis=1)))

    def forward(self, x):
        inp, (h, w) = pad_to_multiple(x, self.image_io.size_multiple)
        fused = self._fused((self.encoder_1, self.encoder_2, self.encoder_3), self.layer_fussion, self.conv_fuss,
                            self.patch_embed.proj(inp))
        e1 = self.decoder_level1_0(self.down_1(fused))
        e2 = self.decoder_level2_0(self.down_2(e1))
        e3 = self.decoder_level3_0(self.down_3(e2))
        e4 = self.decoder_level4(self.down_4(e3))
        d3 = self.decoder_level3_1(self.skip_4_3(_fuse(self.coefficient_4_3, e3, self.up4_3(e4))))
        d2 = self.decoder_level2_1(self.skip_3_2(_fuse(self.coefficient_3_2, e2, self.up3_2(d3))))
        d1 = self.decoder_level1_1(self.skip_1_0(_fuse(self.coefficient_2_1, e1, self.up2_1(d2))))
        out = _fuse(self.coefficient_1_0, self.latent(fused), self.up2_0(d1))
        out = self.output(self._fused((self.refinement_1, self.refinement_2, self.refinement_3),
                                      self.layer_fussion_2, self.conv_fuss_2, out))
        if self.skip:
            out = out + inp
        return crop_to(out, (h, w))


@MODELS.register()
def llformer(**kwargs) -> LLFormer:
    """Released LLFormer (dim 16, blocks [2, 4, 8, 16], heads [1, 2, 4, 8]), 24,546,966 parameters."""
    return LLFormer(**kwargs)
