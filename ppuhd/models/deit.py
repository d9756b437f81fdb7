"""DeiT: data-efficient image transformers, with the distillation token.

Paper: Hugo Touvron et al., "Training data-efficient image transformers & distillation
through attention", ICML 2021. Official code: https://github.com/facebookresearch/deit
(``models.py``; timm ``timm/models/deit.py`` for ``set_distilled_training``).

Plain DeiT is a ViT (``ppuhd.models.vit``) with DeiT's preprocessing. The distilled model
adds a distillation token (after the class token, with its own position embedding) and a
second head. In training with ``set_distilled_training(True)`` it returns
``(cls_logits, dist_logits)`` for the distillation loss; otherwise the AVERAGE OF THE TWO
LOGITS, as deit's ``models.py`` and its released accuracies do (the paper's text says
softmax outputs are added, the code averages logits).
"""
from typing import Dict, Optional, Sequence, Set, Tuple, Union

import paddle

from ..registry import MODELS
from .vit import IMAGENET_MEAN, IMAGENET_STD, VisionTransformer, build_vit


class DistilledVisionTransformer(VisionTransformer):
    """ViT with a class token and a distillation token, each with its own head.

    Args:
        distilled_training: start with the training switch on (see ``set_distilled_training``).
        **kwargs: ``VisionTransformer`` arguments (``img_size``, ``num_classes``, ``drop_path_rate``, ...).
    """

    num_prefix_tokens = 2

    def __init__(self, distilled_training: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.dist_token = self._token_param([1, 1, self.embed_dim])
        self.head_dist = self._make_head(self.num_classes)
        self.distilled_training = distilled_training

    def set_distilled_training(self, enable: bool = True) -> None:
        """In training mode, return ``(cls_logits, dist_logits)`` instead of their average."""
        self.distilled_training = enable

    def no_weight_decay(self) -> Set[str]:
        return super().no_weight_decay() | {'dist_token'}

    def reset_classifier(self, num_classes: int) -> None:
        super().reset_classifier(num_classes)
        self.head_dist = self._make_head(num_classes)

    def _prefix_tokens(self) -> Sequence[paddle.Tensor]:
        return [self.cls_token, self.dist_token]

    def forward_head(self, x: paddle.Tensor,
                     pre_logits: bool = False) -> Union[paddle.Tensor, Tuple[paddle.Tensor, paddle.Tensor]]:
        """Averaged logits; ``(cls, dist)`` logits in distilled training; averaged features if ``pre_logits``."""
        x, x_dist = self.head_drop(x[:, 0]), self.head_drop(x[:, 1])
        if pre_logits:
            return (x + x_dist) / 2
        x, x_dist = self.head(x), self.head_dist(x_dist)
        if self.distilled_training and self.training:
            return x, x_dist
        return (x + x_dist) / 2


# deit main.py evaluates with resize int(size / 0.875) and a center crop (--eval-crop-ratio 0.875).
DEIT_CFG = dict(mean=IMAGENET_MEAN, std=IMAGENET_STD, crop_pct=0.875, interpolation='bicubic')
DEIT_SIZES = dict(tiny=dict(embed_dim=192, depth=12, num_heads=3), small=dict(embed_dim=384, depth=12, num_heads=6),
                  base=dict(embed_dim=768, depth=12, num_heads=12))


def _create(size: str, img_size: int, distilled: bool, kwargs: Dict,
            cfg: Optional[Dict] = None) -> VisionTransformer:
    cls = DistilledVisionTransformer if distilled else VisionTransformer
    return build_vit(cls, dict(DEIT_SIZES[size], patch_size=16, img_size=img_size), cfg or DEIT_CFG, kwargs)


@MODELS.register()
def deit_tiny_patch16_224(**kwargs) -> VisionTransformer:
    """DeiT-Ti (5.7M params); kwargs override ``VisionTransformer`` args."""
    return _create('tiny', 224, False, kwargs)


@MODELS.register()
def deit_small_patch16_224(**kwargs) -> VisionTransformer:
    """DeiT-S (22.1M params)."""
    return _create('small', 224, False, kwargs)


@MODELS.register()
def deit_base_patch16_224(**kwargs) -> VisionTransformer:
    """DeiT-B (86.6M params)."""
    return _create('base', 224, False, kwargs)


@MODELS.register()
def deit_base_patch16_384(**kwargs) -> VisionTransformer:
    """DeiT-B fine-tuned at 384."""
    return _create('base', 384, False, kwargs)


@MODELS.register()
def deit_tiny_distilled_patch16_224(**kwargs) -> DistilledVisionTransformer:
    """DeiT-Ti with distillation token (5.9M params); kwargs override ``DistilledVisionTransformer`` args."""
    return _create('tiny', 224, True, kwargs)


@MODELS.register()
def deit_small_distilled_patch16_224(**kwargs) -> DistilledVisionTransformer:
    """DeiT-S with distillation token (22.4M params)."""
    return _create('small', 224, True, kwargs)


@MODELS.register()
def deit_base_distilled_patch16_224(**kwargs) -> DistilledVisionTransformer:
    """DeiT-B with distillation token (87.3M params)."""
    return _create('base', 224, True, kwargs)


@MODELS.register()
def deit_base_distilled_patch16_384(**kwargs) -> DistilledVisionTransformer:
    """DeiT-B with distillation token, fine-tuned at 384 (87.6M params)."""
    return _create('base', 384, True, kwargs)
