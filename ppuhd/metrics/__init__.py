"""Image quality metrics with explicit conventions (see :mod:`ppuhd.metrics.image`); top-k accuracy sums."""
from .image import HIGHER_IS_BETTER, METRICS, compute_metrics, mae, psnr, quantize_uint8, rgb_to_y, ssim

__all__ = ['HIGHER_IS_BETTER', 'METRICS', 'compute_metrics', 'mae', 'psnr', 'quantize_uint8', 'rgb_to_y', 'ssim']
from .classification import CLS_HIGHER_IS_BETTER, classification_sums, topk_correct  # noqa: E402
