"""Pixel-wise regression losses, mean-reduced over every element."""
import paddle
import paddle.nn as nn

from ..registry import LOSSES


@LOSSES.register()
class L1Loss(nn.Layer):
    """Mean absolute error, as ``torch.nn.L1Loss()``."""

    def forward(self, pred: paddle.Tensor, target: paddle.Tensor) -> paddle.Tensor:
        return (pred - target).abs().mean()


@LOSSES.register()
class MSELoss(nn.Layer):
    """Mean squared error, as ``torch.nn.MSELoss()``."""

    def forward(self, pred: paddle.Tensor, target: paddle.Tensor) -> paddle.Tensor:
        return (pred - target).square().mean()


@LOSSES.register()
class SmoothL1Loss(nn.Layer):
    """Smooth L1 with PyTorch's ``beta`` semantics (``torch.nn.functional.smooth_l1_loss``).

    ``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta``; ``beta = 0`` is plain L1.
    Written out because Paddle's ``F.smooth_l1_loss(delta=b)`` is the Huber loss
    (``0.5 d^2`` / ``b |d| - 0.5 b^2``), which equals ``b`` times PyTorch's: the two agree only
    for ``beta = delta = 1``, the default the official UHDFour training uses.

    Args:
        beta: where the loss switches from quadratic to linear; must be >= 0.
    """

    def __init__(self, beta: float = 1.0):
        super().__init__()
        if beta < 0:
            raise ValueError(f'beta must be >= 0, got {beta}')
        self.beta = float(beta)

    def forward(self, pred: paddle.Tensor, target: paddle.Tensor) -> paddle.Tensor:
        diff = (pred - target).abs()
        if self.beta == 0:
            return diff.mean()
        quadratic = 0.5 * diff.square() / self.beta
        return paddle.where(diff < self.beta, quadratic, diff - 0.5 * self.beta).mean()

    def extra_repr(self) -> str:
        return f'beta={self.beta}'


@LOSSES.register()
class CharbonnierLoss(nn.Layer):
    """``mean(sqrt(d^2 + eps^2))``, the differentiable L1 of MPRNet / Restormer ``losses.py``.

    ``eps`` is squared inside the root as in MPRNet (eps 1e-3); BasicSR's ``charbonnier_loss``
    adds its ``eps`` (default 1e-12) unsquared instead.

    Args:
        eps: smoothing constant near zero error.
    """

    def __init__(self, eps: float = 1e-3):
        super().__init__()
        self.eps = float(eps)

    def forward(self, pred: paddle.Tensor, target: paddle.Tensor) -> paddle.Tensor:
        return ((pred - target).square() + self.eps ** 2).sqrt().mean()

    def extra_repr(self) -> str:
        return f'eps={self.eps}'
