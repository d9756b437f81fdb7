"""Multi-head self-attention with a packed qkv projection (timm ``Attention``)."""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F


class Attention(nn.Layer):
    """Self-attention over tokens ``[B, N, C]``.

    Args:
        dim: token width C (a multiple of ``num_heads``).
        num_heads: attention heads; head width is ``dim // num_heads``.
        qkv_bias: bias in the packed q, k, v projection.
        attn_drop: dropout on the attention weights.
        proj_drop: dropout after the output projection.
    """

    def __init__(self, dim: int = 768, num_heads: int = 12, qkv_bias: bool = True, attn_drop: float = 0.0,
                 proj_drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'Attention: dim {dim} is not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias_attr=None if qkv_bias else False)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x):
        dim = x.shape[-1]
        # reshape with 0 (= keep that size) so batch and token count may be dynamic when exported.
        # q, k, v are unbound from the [B, N, 3, heads, head_dim] layout that scaled_dot_product_attention takes:
        # the same softmax(q * scale @ k^T) @ v on the CPU (its math backend), bit for bit, but the backward of
        # unbind writes each gradient once, where indexing the transposed qkv (timm's qkv[0], qkv[1], qkv[2])
        # made three full-size zero-filled gradients: 1.5x faster attention in a DeiT-Ti training step
        # (docs/benchmarks.md, "Training step profile"); fused kernels where the device has them.
        q, k, v = paddle.unbind(self.qkv(x).reshape([0, 0, 3, self.num_heads, self.head_dim]), axis=2)
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0,
                                           training=self.training)
        return self.proj_drop(self.proj(x.reshape([0, 0, dim])))
