"""Vision Transformer (ViT).

Paper: Alexey Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image
Recognition at Scale", ICLR 2021. Reference implementation: timm
``timm/models/vision_transformer.py`` (https://github.com/huggingface/pytorch-image-models),
whose parameter names are kept so official weights convert with a transpose of each Linear.

Pre-norm blocks, packed qkv, exact GELU, LayerNorm eps 1e-6, a class token whose final
state feeds the head. Inputs of another size than ``img_size`` are accepted: the position
embedding is resampled to the new patch grid on the fly (timm's ``dynamic_img_size``), and a
checkpoint of another grid is resampled by :meth:`VisionTransformer.adapt_state_dict`.
"""
from typing import Dict, Optional, Sequence, Set, Tuple

import numpy as np
import paddle
import paddle.nn as nn

from ..registry import MODELS
from .layers import (Attention, DropPath, Mlp, PatchEmbed, init_vit_weights_, resample_pos_embed,
                     torch_default_init_, trunc_normal_)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)


class Block(nn.Layer):
    """Pre-norm transformer block: x + attn(LN(x)), then x + mlp(LN(x)).

    Args:
        dim: token width.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / ``dim``.
        qkv_bias: bias in the qkv projection.
        proj_drop: dropout after the attention projection and in the MLP.
        attn_drop: dropout on the attention weights.
        drop_path: stochastic depth rate of both residual branches.
    """

    def __init__(self, dim: int = 768, num_heads: int = 12, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 proj_drop: float = 0.0, attn_drop: float = 0.0, drop_path: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, epsilon=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, proj_drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, epsilon=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=proj_drop)

    def forward(self, x):
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class VisionTransformer(nn.Layer):
    """ViT with a class token (timm naming).

    Dropout follows current timm: ``drop_rate`` is the dropout before the head; the token,
    projection and attention dropouts have their own rates (all 0 in the DeiT/ViT recipes).

    Args:
        img_size: training input size (int or (H, W)); sets the position-embedding grid.
        patch_size: patch side.
        in_chans: input channels.
        num_classes: classes of the head; 0 gives no head (``forward`` returns the features).
        embed_dim: token width.
        depth: number of blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / ``embed_dim``.
        qkv_bias: bias in the qkv projections.
        drop_rate: dropout before the classifier.
        pos_drop_rate: dropout after adding the position embedding.
        proj_drop_rate: dropout after attention projections and in the MLPs.
        attn_drop_rate: dropout on attention weights.
        drop_path_rate: stochastic depth, linearly increasing from 0 to this over the blocks.
        pos_embed_antialias: resample position embeddings with timm's anti-aliased bicubic
            instead of deit's plain bicubic (used for other input sizes and checkpoints).
        pretrained_cfg: preprocessing of the official weights (mean, std, crop_pct, interpolation);
            ``input_size`` is always set from ``img_size``.
    """

    num_prefix_tokens = 1

    def __init__(self, img_size: int = 224, patch_size: int = 16, in_chans: int = 3, num_classes: int = 1000,
                 embed_dim: int = 768, depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, drop_rate: float = 0.0, pos_drop_rate: float = 0.0,
                 proj_drop_rate: float = 0.0, attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 pos_embed_antialias: bool = False, pretrained_cfg: Optional[Dict] = None):
        super().__init__()
        self.num_classes = num_classes
        self.num_features = self.embed_dim = embed_dim
        self.pos_embed_antialias = pos_embed_antialias
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        self.cls_token = self._token_param([1, 1, embed_dim])
        self.pos_embed = self._token_param([1, self.patch_embed.num_patches + self.num_prefix_tokens, embed_dim])
        self.pos_drop = nn.Dropout(pos_drop_rate)
        rates = np.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.LayerList([Block(embed_dim, num_heads, mlp_ratio, qkv_bias, proj_drop_rate,
                                          attn_drop_rate, rate) for rate in rates])
        self.norm = nn.LayerNorm(embed_dim, epsilon=1e-6)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = self._make_head(num_classes)
        self.pretrained_cfg = self._make_cfg(pretrained_cfg, in_chans)
        self._init_weights()

    # ------------------------------------------------------------ construction
    def _token_param(self, shape):
        param = self.create_parameter(shape, default_initializer=nn.initializer.Constant(0.0))
        return trunc_normal_(param, std=0.02)

    def _make_head(self, num_classes: int) -> nn.Layer:
        if num_classes <= 0:
            return nn.Identity()
        head = nn.Linear(self.embed_dim, num_classes)
        init_vit_weights_(head)
        return head

    def _make_cfg(self, cfg: Optional[Dict], in_chans: int) -> Dict:
        cfg = {**dict(mean=IMAGENET_MEAN, std=IMAGENET_STD, crop_pct=0.875, interpolation='bicubic'), **(cfg or {})}
        cfg.update(input_size=(in_chans, *self.patch_embed.img_size), num_classes=self.num_classes,
                   first_conv='patch_embed.proj', classifier='head')
        return cfg

    def _init_weights(self):
        # timm/deit: Linear trunc_normal(.02), LayerNorm (1, 0); the patch conv keeps torch's default init
        for layer in self.sublayers():
            init_vit_weights_(layer)
        torch_default_init_(self.patch_embed)

    # ------------------------------------------------------------ public API
    def no_weight_decay(self) -> Set[str]:
        """Parameter names exempt from weight decay (tokens and position embedding, as timm/deit)."""
        return {'pos_embed', 'cls_token'}

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head(s) by freshly initialised ones for ``num_classes`` (0: no head)."""
        self.num_classes = num_classes
        self.pretrained_cfg['num_classes'] = num_classes
        self.head = self._make_head(num_classes)

    def adapt_state_dict(self, state: Dict) -> Dict:
        """Resample a checkpoint's ``pos_embed`` of another grid (e.g. 224 -> 384) to this model's.

        Called by ``ppuhd.engine.load_model_weights`` before its strict check; a square source
        grid is assumed, as in deit's ``--finetune`` and timm's checkpoint filter.
        """
        src = state.get('pos_embed')
        if src is None or tuple(src.shape) == tuple(self.pos_embed.shape):
            return state
        side = int(round((src.shape[1] - self.num_prefix_tokens) ** 0.5))
        if side * side != src.shape[1] - self.num_prefix_tokens:
            return state  # not this model's token layout (e.g. no dist token): the strict check reports it
        if not isinstance(src, paddle.Tensor):
            src = paddle.to_tensor(np.asarray(src))
        return dict(state, pos_embed=resample_pos_embed(src, self.patch_embed.grid_size, self.num_prefix_tokens,
                                                        self.pos_embed_antialias))

    # ------------------------------------------------------------ forward
    def _prefix_tokens(self) -> Sequence[paddle.Tensor]:
        return [self.cls_token]

    def _pos_embed_for(self, grid: Tuple) -> paddle.Tensor:
        # the model's own grid, known while tracing too (classifiers export at a fixed size): no resample.
        # A grid only known at run time (ints absent) is always resampled (bicubic at scale 1 is the identity)
        if all(isinstance(g, int) for g in grid) and tuple(grid) == self.patch_embed.grid_size:
            return self.pos_embed
        return resample_pos_embed(self.pos_embed, grid, self.num_prefix_tokens, self.pos_embed_antialias,
                                  old_grid=self.patch_embed.grid_size)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        """Normalised tokens ``[B, prefix + N, D]``."""
        x, grid = self.patch_embed(x)
        # broadcasting instead of expand(B, ...) keeps the batch dimension dynamic when exported
        zeros = paddle.zeros_like(x[:, :1])
        x = paddle.concat([token + zeros for token in self._prefix_tokens()] + [x], axis=1)
        x = self.pos_drop(x + self._pos_embed_for(grid))
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward_head(self, x: paddle.Tensor, pre_logits: bool = False) -> paddle.Tensor:
        """Class-token features (``pre_logits``) or logits ``[B, num_classes]``."""
        x = self.head_drop(x[:, 0])
        return x if pre_logits else self.head(x)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


def build_vit(cls, arch: Dict, cfg: Dict, kwargs: Dict) -> VisionTransformer:
    """``cls(**arch, **kwargs)`` with ``cfg`` as the default preprocessing; kwargs win over both."""
    kwargs = dict(kwargs)
    kwargs['pretrained_cfg'] = dict(cfg, **(kwargs.get('pretrained_cfg') or {}))
    return cls(**dict(arch, **kwargs))


# timm's ViT weights (augreg, Google's JAX training) use Inception mean/std 0.5; crop 0.9 at 224, 1.0 at 384.
VIT_224 = dict(mean=INCEPTION_MEAN, std=INCEPTION_STD, crop_pct=0.9, interpolation='bicubic')
VIT_384 = dict(VIT_224, crop_pct=1.0)
VIT_SIZES = dict(tiny=dict(embed_dim=192, depth=12, num_heads=3), small=dict(embed_dim=384, depth=12, num_heads=6),
                 base=dict(embed_dim=768, depth=12, num_heads=12), large=dict(embed_dim=1024, depth=24, num_heads=16))


def _create(size: str, patch: int, img: int, kwargs: Dict) -> VisionTransformer:
    return build_vit(VisionTransformer, dict(VIT_SIZES[size], patch_size=patch, img_size=img),
                     VIT_224 if img == 224 else VIT_384, kwargs)


@MODELS.register()
def vit_tiny_patch16_224(**kwargs) -> VisionTransformer:
    """ViT-Ti/16 (5.7M params) (timm ``vit_tiny_patch16_224``); kwargs override ``VisionTransformer`` args."""
    return _create('tiny', 16, 224, kwargs)


@MODELS.register()
def vit_small_patch16_224(**kwargs) -> VisionTransformer:
    """ViT-S/16 (22.1M params) (timm ``vit_small_patch16_224``)."""
    return _create('small', 16, 224, kwargs)


@MODELS.register()
def vit_base_patch16_224(**kwargs) -> VisionTransformer:
    """ViT-B/16 (86.6M params) (timm ``vit_base_patch16_224``)."""
    return _create('base', 16, 224, kwargs)


@MODELS.register()
def vit_large_patch16_224(**kwargs) -> VisionTransformer:
    """ViT-L/16 (304.3M params) (timm ``vit_large_patch16_224``)."""
    return _create('large', 16, 224, kwargs)


@MODELS.register()
def vit_tiny_patch16_384(**kwargs) -> VisionTransformer:
    """ViT-Ti/16 at 384 (timm ``vit_tiny_patch16_384``)."""
    return _create('tiny', 16, 384, kwargs)


@MODELS.register()
def vit_small_patch16_384(**kwargs) -> VisionTransformer:
    """ViT-S/16 at 384 (timm ``vit_small_patch16_384``)."""
    return _create('small', 16, 384, kwargs)


@MODELS.register()
def vit_base_patch16_384(**kwargs) -> VisionTransformer:
    """ViT-B/16 at 384 (timm ``vit_base_patch16_384``)."""
    return _create('base', 16, 384, kwargs)


@MODELS.register()
def vit_large_patch16_384(**kwargs) -> VisionTransformer:
    """ViT-L/16 at 384 (timm ``vit_large_patch16_384``)."""
    return _create('large', 16, 384, kwargs)


@MODELS.register()
def vit_base_patch32_384(**kwargs) -> VisionTransformer:
    """ViT-B/32 at 384 (timm ``vit_base_patch32_384``)."""
    return _create('base', 32, 384, kwargs)
