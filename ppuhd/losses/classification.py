"""Classification criteria as timm defines them (``timm/loss/cross_entropy.py``)."""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..registry import LOSSES


@LOSSES.register()
class SoftTargetCrossEntropy(nn.Layer):
    """``mean_b sum_c -target * log_softmax(logits)``: the criterion of mixed (Mixup/CutMix) soft targets."""

    def forward(self, logits: paddle.Tensor, target: paddle.Tensor) -> paddle.Tensor:
        return (-target * F.log_softmax(logits, axis=-1)).sum(axis=-1).mean()


@LOSSES.register()
class LabelSmoothingCrossEntropy(nn.Layer):
    """timm's label smoothing: ``(1 - s) * nll + s * mean_c(-log_softmax)`` on integer labels.

    Args:
        smoothing: the smoothing ``s`` (0 gives the plain cross-entropy).
    """

    def __init__(self, smoothing: float = 0.1):
        super().__init__()
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f'smoothing must be in [0, 1), got {smoothing}')
        self.smoothing = smoothing

    def forward(self, logits: paddle.Tensor, target: paddle.Tensor) -> paddle.Tensor:
        logprobs = F.log_softmax(logits, axis=-1)
        nll = -paddle.take_along_axis(logprobs, target.astype('int64').reshape([-1, 1]), axis=-1).squeeze(-1)
        smooth = -logprobs.mean(axis=-1)
        return ((1.0 - self.smoothing) * nll + self.smoothing * smooth).mean()


def classification_criterion(target: paddle.Tensor, smoothing: float = 0.0) -> nn.Layer:
    """deit main.py's choice: soft targets (mixup on) -> SoftTargetCrossEntropy, else label smoothing CE."""
    return SoftTargetCrossEntropy() if target.ndim == 2 else LabelSmoothingCrossEntropy(smoothing)
