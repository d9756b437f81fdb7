"""DeiT's distillation losses (deit ``losses.py``, ``DistillationLoss``)."""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..registry import LOSSES

DISTILLATION_TYPES = ('none', 'soft', 'hard')


def soft_distillation(student: paddle.Tensor, teacher: paddle.Tensor, tau: float = 1.0) -> paddle.Tensor:
    """``tau^2 * sum KL(softmax(t/tau) || softmax(s/tau)) / numel(s)``, as deit.

    deit divides the summed KL by ``outputs_kd.numel()`` (B * C), not by B: a deliberate
    choice kept for its released results (facebookresearch/deit issues #61 and #116).
    The target is given as log-probabilities (``log_target=True``): Paddle's ``F.kl_div``
    without it reads the target as probabilities, which made PaddleViT's soft loss zero.
    """
    log_s = F.log_softmax(student / tau, axis=1)
    log_t = F.log_softmax(teacher / tau, axis=1)
    kl_sum = (paddle.exp(log_t) * (log_t - log_s)).sum()
    return kl_sum * (tau * tau) / student.numel().astype(kl_sum.dtype)


def hard_distillation(student: paddle.Tensor, teacher: paddle.Tensor) -> paddle.Tensor:
    """Cross-entropy of the student against the teacher's argmax (deit's hard label)."""
    return F.cross_entropy(student, teacher.argmax(axis=1))


@LOSSES.register()
class DistillationLoss(nn.Layer):
    """``(1 - alpha) * base + alpha * kd`` with the kd term on the distillation head.

    Args:
        distillation_type: 'none' (base loss only), 'soft' or 'hard'.
        alpha: weight of the distillation term.
        tau: softmax temperature of the soft term.
    """

    def __init__(self, distillation_type: str = 'none', alpha: float = 0.5, tau: float = 1.0):
        super().__init__()
        if distillation_type not in DISTILLATION_TYPES:
            raise ValueError(f"distillation_type must be one of {DISTILLATION_TYPES}, got '{distillation_type}'")
        self.distillation_type, self.alpha, self.tau = distillation_type, alpha, tau

    def forward(self, base_loss: paddle.Tensor, student_dist: paddle.Tensor,
                teacher_logits: paddle.Tensor) -> dict:
        """Returns ``{'loss', 'loss_base', 'loss_kd'}`` (kd is 0 for 'none')."""
        if self.distillation_type == 'none':
            return {'loss': base_loss, 'loss_base': base_loss}
        if self.distillation_type == 'soft':
            kd = soft_distillation(student_dist, teacher_logits, self.tau)
        else:
            kd = hard_distillation(student_dist, teacher_logits)
        return {'loss': (1 - self.alpha) * base_loss + self.alpha * kd, 'loss_base': base_loss, 'loss_kd': kd}
