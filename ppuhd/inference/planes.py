"""What an image-to-image model sees of an RGB image, and how its output becomes RGB again.

Shared by the task (training, prediction, evaluation) and the deploy predictor, on NCHW float
batches in [0, 1] (numpy arrays or Paddle tensors where noted):

* RGB models (``ImageIO(channels='rgb')``) see the image itself;
* Y-channel models (``channels='y'``, e.g. ESPCN) see its BT.601 Y plane, and the RGB result is
  their Y with the MATLAB-bicubic upscaled Cb and Cr of the input (ESPCN's paper);
* the baseline a model is compared with is the input, or for ``scale`` > 1 its MATLAB-bicubic upscaling.
"""
import numpy as np

from .color import rgb_to_luma, rgb_to_ycbcr, ycbcr_to_rgb
from .contract import ImageIO


def model_planes(rgb, image_io: ImageIO):
    """The model's input for an RGB batch (numpy or Paddle): the batch, or its Y plane."""
    return rgb_to_luma(rgb) if image_io.channels == 'y' else rgb


def bicubic_upscale(images: np.ndarray, scale: int) -> np.ndarray:
    """[N, C, H, W] float -> MATLAB-bicubic upscaling by ``scale`` (``ppuhd.data.degradations.bicubic_upscale``,
    float64 unrounded, returned as float32)."""
    if scale == 1:
        return images
    from ..data.degradations import bicubic_upscale as upscale_one
    return np.stack([upscale_one(img.transpose(1, 2, 0), scale).transpose(2, 0, 1) for img in images]).astype(
        np.float32)


def to_rgb(out: np.ndarray, rgb_in: np.ndarray, image_io: ImageIO) -> np.ndarray:
    """RGB [N, 3, sH, sW] of the model's output ``out`` for the RGB input ``rgb_in`` [N, 3, H, W] (numpy)."""
    if image_io.channels == 'rgb':
        return out
    _, cb, cr = rgb_to_ycbcr(bicubic_upscale(rgb_in, image_io.scale))
    return np.concatenate(ycbcr_to_rgb(out, cb, cr), axis=1).astype(np.float32)
