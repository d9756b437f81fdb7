"""Image quality metrics with explicit conventions (see :mod:`ppuhd.metrics.image`)."""
from .image import HIGHER_IS_BETTER, METRICS, compute_metrics, mae, psnr, quantize_uint8, rgb_to_y, ssim

__all__ = ['HIGHER_IS_BETTER', 'METRICS', 'compute_metrics', 'mae', 'psnr', 'quantize_uint8', 'rgb_to_y', 'ssim']
