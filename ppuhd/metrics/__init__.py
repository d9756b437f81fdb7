"""Image quality metrics with explicit conventions (:mod:`ppuhd.metrics.image`), the papers' protocols
(:mod:`ppuhd.metrics.protocols`); top-k accuracy sums."""
from .image import HIGHER_IS_BETTER, METRICS, compute_metrics, crop_borders, mae, psnr, quantize_uint8, rgb_to_y, ssim
from .protocols import PROTOCOLS, resolve_metrics

__all__ = ['HIGHER_IS_BETTER', 'METRICS', 'PROTOCOLS', 'compute_metrics', 'crop_borders', 'mae', 'psnr',
           'quantize_uint8', 'resolve_metrics', 'rgb_to_y', 'ssim']
from .classification import CLS_HIGHER_IS_BETTER, classification_sums, topk_correct  # noqa: E402
