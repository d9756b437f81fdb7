"""Full-reference image quality metrics (PSNR, SSIM, MAE) with explicit conventions.

Published low-light numbers differ as much by how they were measured as by the
model, so every convention is an argument here rather than a hidden default:

* ``data_range``: the peak value (1.0 for float images in [0, 1], 255 for uint8).
* ``clamp``: clip the prediction to ``[0, data_range]`` first. The official UHDFour
  evaluation (``src/utils.py: psnr = 10 * log10(1 / mse)`` on the raw network output)
  does NOT clamp: ``clamp=False`` reproduces it. LLFormer evaluates saved uint8
  images, which are clamped by construction.
* ``quantize``: round prediction and target to uint8 levels first (:func:`quantize_uint8`),
  LLFormer's protocol of evaluating saved 8-bit images.
* ``color``: ``'rgb'`` averages over the RGB channels; ``'y'`` uses BT.601 luma as
  BasicSR's ``rgb2ycbcr(img, y_only=True)`` (see :func:`rgb_to_y`).
* SSIM ``window``: ``'uniform7'`` is scikit-image's default (used by UHDFour and
  LLFormer); ``'gaussian11'`` is the Wang et al. (2004) reference convention.
* ``crop_border``: pixels removed at each of the four borders before measuring (the SR
  protocol crops ``scale`` pixels; :mod:`ppuhd.metrics.protocols` names the papers' presets).

All arithmetic is float64; inputs are numpy HWC arrays (a 2-D array is one channel).
"""
from typing import Callable, Dict, Tuple

import numpy as np
from scipy import ndimage

# BT.601 "studio swing" luma on the [0, 255] scale, as BasicSR ``basicsr/utils/color_util.py``
# ``rgb2ycbcr``: Y = 16 + (65.481 R + 128.553 G + 24.966 B) with R, G, B in [0, 1].
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966])
_Y_OFFSET = 16.0

SSIM_WINDOWS = ('uniform7', 'gaussian11')


def _check_pair(pred: np.ndarray, target: np.ndarray, data_range: float) -> None:
    if pred.shape != target.shape:
        raise ValueError(f'pred and target must have the same shape, got pred {pred.shape} '
                         f'and target {target.shape}')
    if pred.ndim not in (2, 3):
        raise ValueError(f'expected HWC (or HW) images, got shape {pred.shape}')
    if data_range <= 0:
        raise ValueError(f'data_range must be positive, got {data_range}')
    for name, img in (('pred', pred), ('target', target)):
        if img.dtype == np.uint8 and data_range != 255:
            raise ValueError(f'{name} is uint8 but data_range is {data_range}; use data_range=255')


def rgb_to_y(img: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """BT.601 luma of an RGB HWC image, in the same units as the input, shape (H, W, 1).

    Exactly BasicSR's ``rgb2ycbcr(img / data_range, y_only=True)`` followed by a rescale:
    ``Y = (16 + [65.481, 128.553, 24.966] . (rgb / data_range)) / 255 * data_range``, so
    Y lies in [16, 235] / 255 * data_range. No rounding is applied (BasicSR's metrics do not
    round either: ``to_y_channel`` works on float32). BasicSR's metrics receive BGR images
    from cv2 and call ``bgr2ycbcr``; ours are RGB, so the weights are in RGB order.
    """
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"color='y' needs an RGB HWC image, got shape {img.shape}")
    y = (img / data_range) @ _Y_WEIGHTS + _Y_OFFSET
    return (y / 255.0 * data_range)[..., None]


def quantize_uint8(img: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """Round to the 256 levels a saved 8-bit image holds, kept in ``data_range`` units.

    As LLFormer's test_UHD.py saves results: ``img_as_ubyte(clamp(x, 0, 1))`` (rint of x * 255);
    its evaluation.py then reads the PNGs, so metrics on these values equal skimage's on the uint8 files.
    """
    # float32 product as skimage's img_as_ubyte on the float32 network output (float64 rounds a few
    # half-way values the other way)
    scaled = np.clip(img / data_range, 0.0, 1.0).astype(np.float32) * np.float32(255.0)
    return np.rint(scaled).astype(np.float64) / 255.0 * data_range


def crop_borders(img: np.ndarray, border: int) -> np.ndarray:
    """``img`` without ``border`` pixels at each of its four sides (BasicSR ``img[b:-b, b:-b]``)."""
    if border < 0 or int(border) != border:
        raise ValueError(f'crop_border must be a non-negative integer, got {border!r}')
    if border == 0:
        return img
    h, w = img.shape[:2]
    if min(h, w) <= 2 * border:
        raise ValueError(f'crop_border {border} leaves nothing of a {h}x{w} image')
    return img[border:h - border, border:w - border]


def _prepare(pred: np.ndarray, target: np.ndarray, data_range: float, clamp: bool, color: str,
             quantize: bool = False, crop_border: int = 0):
    """Validate, convert to float64 HWC, optionally clip (or quantize to uint8 levels), crop and take luma."""
    pred, target = np.asarray(pred), np.asarray(target)
    _check_pair(pred, target, data_range)
    pred, target = crop_borders(pred, crop_border), crop_borders(target, crop_border)
    pred, target = pred.astype(np.float64), target.astype(np.float64)
    if pred.ndim == 2:
        pred, target = pred[..., None], target[..., None]
    if clamp:
        pred = np.clip(pred, 0.0, data_range)
    if quantize:
        pred, target = quantize_uint8(pred, data_range), quantize_uint8(target, data_range)
    if color == 'y':
        return rgb_to_y(pred, data_range), rgb_to_y(target, data_range)
    if color != 'rgb':
        raise ValueError(f"color must be 'rgb' or 'y', got {color!r}")
    return pred, target


def psnr(pred: np.ndarray, target: np.ndarray, data_range: float = 1.0, clamp: bool = True,
         color: str = 'rgb', quantize: bool = False, crop_border: int = 0) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range^2 / MSE)``, MSE over all pixels and channels.

    Same as ``skimage.metrics.peak_signal_noise_ratio(target, pred, data_range=data_range)``.
    Identical images give ``inf``.
    """
    pred, target = _prepare(pred, target, data_range, clamp, color, quantize, crop_border)
    mse = np.mean((pred - target) ** 2)
    if mse == 0:
        return float('inf')
    return float(10.0 * np.log10(data_range ** 2 / mse))


def _ssim_filter(window: str) -> Tuple[Callable[[np.ndarray], np.ndarray], int]:
    """The local-statistics filter of scikit-image's ``structural_similarity`` and its window width."""
    if window == 'uniform7':
        return lambda x: ndimage.uniform_filter(x, size=7), 7
    if window == 'gaussian11':
        # skimage: gaussian_weights=True uses truncate=3.5 so that sigma 1.5 gives an 11-tap
        # filter (radius int(3.5 * 1.5 + 0.5) = 5), boundary mode 'reflect'.
        return lambda x: ndimage.gaussian_filter(x, sigma=1.5, truncate=3.5, mode='reflect'), 11
    raise ValueError(f'window must be one of {SSIM_WINDOWS}, got {window!r}')


def _ssim_channel(x: np.ndarray, y: np.ndarray, data_range: float, window: str) -> float:
    """Mean SSIM of one 2-D channel, the border of half a window width excluded."""
    filt, win = _ssim_filter(window)
    # uniform7 follows skimage's default use_sample_covariance=True (N / (N - 1), N = 49);
    # gaussian11 follows Wang et al. (population covariance), as skimage recommends for it.
    cov_norm = win * win / (win * win - 1.0) if window == 'uniform7' else 1.0
    ux, uy = filt(x), filt(y)
    vx = cov_norm * (filt(x * x) - ux * ux)
    vy = cov_norm * (filt(y * y) - uy * uy)
    vxy = cov_norm * (filt(x * y) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    pad = (win - 1) // 2
    return float(s[pad:s.shape[0] - pad, pad:s.shape[1] - pad].mean())


def ssim(pred: np.ndarray, target: np.ndarray, data_range: float = 1.0, clamp: bool = True,
         color: str = 'rgb', window: str = 'uniform7', quantize: bool = False, crop_border: int = 0) -> float:
    """Structural similarity, averaged over channels (skimage ``channel_axis=-1``).

    Args:
        window: ``'uniform7'``: skimage's default, ``structural_similarity(..., data_range=R)``
            (7x7 uniform window, sample covariance, K1 .01, K2 .03, 3-pixel border cropped).
            ``'gaussian11'``: ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False``
            (Wang et al. 2004; 5-pixel border cropped). EDT's and BasicSR's ``calculate_ssim``
            (cv2 11x11 Gaussian, sigma 1.5, valid region) give the same values.
    """
    pred, target = _prepare(pred, target, data_range, clamp, color, quantize, crop_border)
    _, win = _ssim_filter(window)
    if min(pred.shape[:2]) < win:
        raise ValueError(f'SSIM window {window} needs images of at least {win}x{win}, got {pred.shape[:2]}')
    return float(np.mean([_ssim_channel(pred[..., c], target[..., c], data_range, window)
                          for c in range(pred.shape[-1])]))


def mae(pred: np.ndarray, target: np.ndarray, data_range: float = 1.0, clamp: bool = True,
        color: str = 'rgb', quantize: bool = False, crop_border: int = 0) -> float:
    """Mean absolute error in units of ``data_range``: ``mean(|pred - target|) / data_range``, in [0, 1].

    So uint8 images with ``data_range=255`` and the same images as floats in [0, 1] give the
    same value, on the scale of LLFormer's reported MAE (0.0116 on UHD-LOL4K).
    """
    pred, target = _prepare(pred, target, data_range, clamp, color, quantize, crop_border)
    return float(np.mean(np.abs(pred - target)) / data_range)


METRICS: Dict[str, Callable[..., float]] = {'psnr': psnr, 'ssim': ssim, 'mae': mae}


def _lpips(pred: np.ndarray, target: np.ndarray, **kwargs) -> float:
    from .lpips import lpips  # Paddle is imported only when LPIPS is asked for
    _check_pair(np.asarray(pred), np.asarray(target), kwargs.get('data_range', 1.0))  # bad input before weights
    return lpips(pred, target, **kwargs)


METRICS['lpips'] = _lpips
HIGHER_IS_BETTER: Dict[str, bool] = {'psnr': True, 'ssim': True, 'mae': False, 'lpips': False}


def compute_metrics(pred: np.ndarray, target: np.ndarray, cfg: Dict[str, dict]) -> Dict[str, float]:
    """Every metric named in ``cfg`` (name -> keyword arguments), e.g. ``{'psnr': {'clamp': False}}``."""
    unknown = [name for name in cfg if name not in METRICS]
    if unknown:
        raise KeyError(f"Unknown metric(s) {unknown}; valid metrics: {', '.join(sorted(METRICS))}")
    return {name: METRICS[name](pred, target, **(kwargs or {})) for name, kwargs in cfg.items()}
