"""Losses; importing this package registers them in ``ppuhd.registry.LOSSES``."""
from .contrastive import SupConLoss
from .perceptual import PerceptualLoss, VGG19Features
from .pixel import CharbonnierLoss, L1Loss, MSELoss, SmoothL1Loss
from .ssim import SSIMLoss, ssim_paddle

__all__ = ['CharbonnierLoss', 'L1Loss', 'MSELoss', 'PerceptualLoss', 'SSIMLoss', 'SmoothL1Loss',
           'SupConLoss', 'VGG19Features', 'ssim_paddle']
from .classification import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy  # noqa: E402
from .distillation import DistillationLoss, hard_distillation, soft_distillation  # noqa: E402
