"""Stochastic depth (timm ``layers/drop.py``): drop whole residual branches per sample."""
import paddle
import paddle.nn as nn


def drop_path(x: paddle.Tensor, drop_prob: float = 0.0, training: bool = False,
              scale_by_keep: bool = True) -> paddle.Tensor:
    """Zero the branch ``x`` for a random subset of samples (rate ``drop_prob``) in training.

    Kept samples are scaled by ``1 / (1 - drop_prob)`` so the expectation is unchanged.
    Identity in eval mode or when ``drop_prob`` is 0.
    """
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1.0 - drop_prob
    shape = [x.shape[0]] + [1] * (x.ndim - 1)
    mask = paddle.bernoulli(paddle.full(shape, keep_prob, dtype=x.dtype))
    if scale_by_keep:
        mask = mask / keep_prob
    return x * mask


class DropPath(nn.Layer):
    """Layer form of :func:`drop_path`.

    Args:
        drop_prob: probability of dropping the branch of a sample.
        scale_by_keep: rescale the kept samples by ``1 / (1 - drop_prob)``.
    """

    def __init__(self, drop_prob: float = 0.0, scale_by_keep: bool = True):
        super().__init__()
        self.drop_prob = drop_prob
        self.scale_by_keep = scale_by_keep

    def forward(self, x):
        return drop_path(x, self.drop_prob, self.training, self.scale_by_keep)

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'
