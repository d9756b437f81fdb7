"""timm's Mixup / CutMix in 'batch' mode with label smoothing folded into the targets (``timm/data/mixup.py``).

One draw per batch: with probability ``prob`` the batch is mixed; CutMix is chosen
with probability ``switch_prob`` (lambda ~ Beta(cutmix_alpha)), else Mixup
(lambda ~ Beta(mixup_alpha)). Each sample is mixed with the batch reversed.
CutMix pastes a box of side ``sqrt(1 - lambda)`` x the image, clipped at the border,
and (``correct_lam``) recomputes lambda from the clipped box area.
"""
from typing import Tuple

import numpy as np
import paddle


def smoothed_one_hot(labels: paddle.Tensor, num_classes: int, smoothing: float) -> paddle.Tensor:
    """timm: off = smoothing / C, on = 1 - smoothing + off."""
    off = smoothing / num_classes
    one_hot = paddle.nn.functional.one_hot(labels.astype('int64').reshape([-1]), num_classes)
    return one_hot * (1.0 - smoothing) + off


def cutmix_box(height: int, width: int, lam: float, rng: np.random.Generator) -> Tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of timm ``rand_bbox``: centre uniform in the image, sides int(H or W * sqrt(1-lam))."""
    ratio = np.sqrt(1 - lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy, cx = int(rng.integers(0, height)), int(rng.integers(0, width))
    y0, y1 = np.clip([cy - cut_h // 2, cy + cut_h // 2], 0, height)
    x0, x1 = np.clip([cx - cut_w // 2, cx + cut_w // 2], 0, width)
    return int(y0), int(y1), int(x0), int(x1)


class Mixup:
    """Mix a batch and return ``(images, soft targets)``.

    Args:
        num_classes: number of classes of the soft targets.
        mixup_alpha: Beta parameter of Mixup (0 disables Mixup).
        cutmix_alpha: Beta parameter of CutMix (0 disables CutMix).
        prob: probability of mixing a batch.
        switch_prob: probability of CutMix when both are enabled.
        label_smoothing: smoothing folded into the mixed targets.
        correct_lam: recompute lambda from the clipped CutMix box (timm default).
    """

    def __init__(self, num_classes: int = 1000, mixup_alpha: float = 0.8, cutmix_alpha: float = 1.0,
                 prob: float = 1.0, switch_prob: float = 0.5, label_smoothing: float = 0.1,
                 correct_lam: bool = True):
        if mixup_alpha <= 0 and cutmix_alpha <= 0:
            raise ValueError('Mixup needs mixup_alpha > 0 or cutmix_alpha > 0 (or leave task.mixup out)')
        self.num_classes, self.mixup_alpha, self.cutmix_alpha = num_classes, mixup_alpha, cutmix_alpha
        self.prob, self.switch_prob, self.smoothing, self.correct_lam = prob, switch_prob, label_smoothing, correct_lam

    def draw(self, rng: np.random.Generator) -> Tuple[float, bool]:
        """(lambda, use_cutmix) for one batch, as timm ``_params_per_batch``."""
        if rng.random() >= self.prob:
            return 1.0, False
        if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
            use_cutmix = bool(rng.random() < self.switch_prob)
        else:
            use_cutmix = self.cutmix_alpha > 0
        alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
        return float(rng.beta(alpha, alpha)), use_cutmix

    def __call__(self, x: paddle.Tensor, labels: paddle.Tensor,
                 rng: np.random.Generator) -> Tuple[paddle.Tensor, paddle.Tensor]:
        if x.shape[0] % 2:
            raise ValueError(f'Mixup needs an even batch size (timm asserts it), got {x.shape[0]}; '
                             'change data.batch_size')
        lam, use_cutmix = self.draw(rng)
        flipped = x.flip(0)
        if lam < 1.0 and use_cutmix:
            y0, y1, x0, x1 = cutmix_box(x.shape[2], x.shape[3], lam, rng)
            mask = np.zeros(x.shape[2:], 'float32')
            mask[y0:y1, x0:x1] = 1.0
            mask = paddle.to_tensor(mask).astype(x.dtype)
            x = x * (1 - mask) + flipped * mask
            if self.correct_lam:
                lam = 1.0 - (y1 - y0) * (x1 - x0) / float(x.shape[2] * x.shape[3])
        elif lam < 1.0:
            x = x * lam + flipped * (1 - lam)
        target = smoothed_one_hot(labels, self.num_classes, self.smoothing)
        return x, target * lam + target.flip(0) * (1 - lam)
