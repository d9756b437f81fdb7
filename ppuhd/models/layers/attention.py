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
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x):
        dim = x.shape[-1]
        # reshape with 0 (= keep that size) so batch and token count may be dynamic when exported
        qkv = self.qkv(x).reshape([0, 0, 3, self.num_heads, self.head_dim]).transpose([2, 0, 3, 1, 4])
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = F.softmax(paddle.matmul(q * self.scale, k, transpose_y=True), axis=-1)
        x = paddle.matmul(self.attn_drop(attn), v)
        x = x.transpose([0, 2, 1, 3]).reshape([0, 0, dim])
        return self.proj_drop(self.proj(x))
