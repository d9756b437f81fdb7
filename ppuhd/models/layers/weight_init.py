"""timm-style initialisers for transformers."""
import paddle
import paddle.nn as nn


def trunc_normal_(tensor: paddle.Tensor, std: float = 0.02, a: float = -2.0, b: float = 2.0) -> paddle.Tensor:
    """Fill ``tensor`` from N(0, std) truncated to the ABSOLUTE interval [a, b], as timm's
    ``trunc_normal_`` (Paddle 3.x ``TruncatedNormal`` takes absolute bounds too; 2.6 cut at 2 std)."""
    nn.initializer.TruncatedNormal(mean=0.0, std=std, a=a, b=b)(tensor)
    return tensor


def init_vit_weights_(layer: nn.Layer) -> None:
    """timm ``_init_weights`` of deit/ViT: Linear trunc_normal(.02) with zero bias, LayerNorm (1, 0).

    Convs are left alone (the patch embedding keeps PyTorch's default init, as in timm).
    """
    if isinstance(layer, nn.Linear):
        trunc_normal_(layer.weight, std=0.02)
        if layer.bias is not None:
            nn.initializer.Constant(0.0)(layer.bias)
    elif isinstance(layer, nn.LayerNorm):
        nn.initializer.Constant(1.0)(layer.weight)
        nn.initializer.Constant(0.0)(layer.bias)
