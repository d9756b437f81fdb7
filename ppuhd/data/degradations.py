"""Degradations for super-resolution and restoration: MATLAB-style bicubic resize, HR mod-crop, Gaussian noise,
synthetic rain streaks.

``imresize`` is MATLAB's ``imresize(img, scale, 'bicubic')`` (Image Processing Toolbox ``imresize.m``):

* Keys' cubic kernel with a = -0.5, support 4 input pixels; when downscaling (scale < 1) and
  ``antialias`` is on, the kernel is stretched by 1 / scale (``h(x) = scale * cubic(scale * x)``, support
  4 / scale), which low-pass filters the image as it is subsampled.
* Output size ``ceil(scale * in)``; output pixel x (1-based) samples input coordinate
  ``u = x / scale + 0.5 * (1 - 1 / scale)`` (pixel centres aligned), weights normalized to sum 1 per output pixel.
* Borders: taps outside the image are folded back symmetrically with the edge pixel repeated
  (``aux = [1:in, in:-1:1]; idx = aux(mod(idx - 1, 2 * in) + 1)``).
* Separable: the height is resized first, then the width (equal scales: MATLAB's dimension order sorts
  the scale factors, and a stable sort keeps height first).
* uint8 input is converted as ``im2uint8(imresize(im2double(img)))``: float64 on ``img / 255``, both passes
  unrounded, one rounding (half away from zero, saturated) at the end. Float input is computed in float64
  and never rounded or clipped.

What was matched, on the Set5 images distributed with fenglinglwb/EDT (``tests/test_degradations.py``):
our uint8 downscale equals the benchmark's MATLAB-made LR images on EVERY pixel at x2, x3 and x4
(425,592 / 187,962 / 106,398 values). Two alternatives were measured and rejected: rounding to uint8
between the two passes (``round_passes=True``; what a per-pass uint8 conversion would do) matches only
86 / 88 / 90 % of the values (all within 2 levels), and the same arithmetic on the 0..255 scale instead of
``img / 255`` breaks 40 exact x.5 ties at x2 the other way. Upscaling the given LR in float64 gives the
bicubic rows of the SR literature on Set5 (Y channel, crop = scale). The formulas are those of BasicSR's
``basicsr/utils/matlab_functions.py`` (``calculate_weights_indices``, ``imresize``: float32 on [0, 1] images,
rows of taps with BasicSR's own symmetric padding); the tests also compare with a loop-based transcription
of the same formulas and with cv2 / PIL bicubic behaviour (which differ from MATLAB's by design).

Each pass is a sparse (out x in) matrix with at most ``ceil(4 / scale) + 2`` entries per row applied along
one axis (``scipy.sparse``), so memory is O(output) even for 4K and 8K images (no dense N x N matrix).

Noise follows the two protocols explicitly (see :func:`add_gaussian_noise`): EDT's ``test_sample.py``
adds ``np.random.normal(0, sigma)`` (one legacy ``np.random.seed(0)`` stream over the sorted test images,
drawn in cv2's BGR order) to the uint8 values and does NOT clip; IPT's ``trainer.py`` adds
``torch.randn * sigma`` to the [0, 255] HR and clamps to [0, 255].
"""
import math
from typing import Callable, Optional, Tuple, Union

import numpy as np
from scipy import sparse

Rng = Union[np.random.Generator, np.random.RandomState]


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB ``imresize.m`` ``cubic``), zero for |x| > 2."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def resize_weights(in_length: int, out_length: int, scale: float,
                   antialias: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """MATLAB's ``contributions``: (weights, indices), both (out_length, P), indices 0-based inside the input.

    Row k holds the P input pixels and weights of output pixel k; out-of-range taps are already folded
    back symmetrically (edge repeated). All-zero columns are dropped as MATLAB does.
    """
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel_width /= scale
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    distance = u[:, None] - indices
    weights = scale * cubic(scale * distance) if (scale < 1 and antialias) else cubic(distance)
    weights /= weights.sum(axis=1, keepdims=True)
    # symmetric fold, 0-based: ... 1 0 | 0 1 ... n-1 | n-1 n-2 ...
    folded = np.mod(indices.astype(np.int64) - 1, 2 * in_length)
    folded = np.where(folded < in_length, folded, 2 * in_length - 1 - folded)
    keep = np.any(weights != 0, axis=0)
    return weights[:, keep], folded[:, keep]


def _resize_matrix(in_length: int, out_length: int, scale: float, antialias: bool) -> sparse.csr_matrix:
    weights, indices = resize_weights(in_length, out_length, scale, antialias)
    rows = np.repeat(np.arange(out_length), weights.shape[1])
    # duplicate (row, column) entries from the symmetric fold are summed, as MATLAB's weighted sum does
    return sparse.csr_matrix((weights.ravel(), (rows, indices.ravel())), shape=(out_length, in_length))


def _round_uint8(x: np.ndarray) -> np.ndarray:
    """MATLAB's double -> uint8 conversion: round half away from zero, saturate to 0..255."""
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


# Images are resized in blocks of about this many float64 bytes, so that the temporary copies stay small
# next to the intermediate and output images (a 1080p -> 4K x2 upscale peaks near the two of them).
_BLOCK_BYTES = 1 << 23


def _resize_pass(src: np.ndarray, matrix: sparse.csr_matrix, axis: int, convert: Callable, finish: Callable,
                 dtype) -> np.ndarray:
    """``finish(matrix @ convert(src))`` along ``axis`` (0: height, 1: width) of an HWC array, by blocks.

    Blocks run along the other spatial axis; ``convert`` turns a block into float64 and ``finish`` turns a
    float64 result into the output ``dtype``, so the float64 copy of a uint8 image is never made whole.
    """
    h, w, c = src.shape
    n = src.shape[axis]
    out = np.empty((matrix.shape[0], w, c) if axis == 0 else (h, matrix.shape[0], c), dtype)
    step = max(1, _BLOCK_BYTES // (8 * c * n))
    for start in range(0, w if axis == 0 else h, step):
        if axis == 0:
            block = convert(src[:, start:start + step])
            res = matrix @ block.reshape(n, -1)
            out[:, start:start + step] = finish(res.reshape(-1, block.shape[1], c))
        else:
            block = np.ascontiguousarray(convert(src[start:start + step]).transpose(1, 0, 2))
            res = matrix @ block.reshape(n, -1)
            out[start:start + step] = finish(res.reshape(-1, block.shape[1], c).transpose(1, 0, 2))
    return out


def imresize(img: np.ndarray, scale: float, antialias: bool = True, round_passes: bool = False) -> np.ndarray:
    """MATLAB ``imresize(img, scale, 'bicubic')`` of an HWC or HW image (see the module docstring).

    Args:
        img: uint8 (values 0..255) or float image, HWC or HW.
        scale: the same factor for height and width, e.g. 0.5 (downscale x2) or 3 (upscale x3).
        antialias: stretch the kernel when downscaling (MATLAB's default ``'Antialiasing', true``).
        round_passes: uint8 only: round and saturate to uint8 after each 1-D pass, on the 0..255 scale (what
            a class-preserving per-pass conversion does). Off by default: the benchmarks' LR images were made
            without it (see the module docstring).

    Returns:
        float input: float64, unrounded and unclipped. uint8 input: uint8, computed as
        ``im2uint8(imresize(im2double(img)))`` (float64 on img / 255, rounded once at the end).
        Shape ``(ceil(scale * H), ceil(scale * W)[, C])``.
    """
    img = np.asarray(img)
    if img.ndim not in (2, 3):
        raise ValueError(f'imresize expects an HWC or HW image, got shape {img.shape}')
    if not (isinstance(scale, (int, float, np.number)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f'scale must be a positive number, got {scale!r}')
    is_uint8 = img.dtype == np.uint8
    if not is_uint8 and not np.issubdtype(img.dtype, np.floating):
        raise TypeError(f'imresize takes uint8 or float images, got {img.dtype}')
    if round_passes and not is_uint8:
        raise ValueError('round_passes=True rounds to uint8 levels; it needs a uint8 image')
    src = img if img.ndim == 3 else img[..., None]
    matrices = [_resize_matrix(n, int(math.ceil(n * scale)), scale, antialias) for n in src.shape[:2]]
    if not is_uint8:
        def convert(x):
            return x.astype(np.float64)
        first, last, dtype = _identity, _identity, np.float64
    elif round_passes:  # the 0..255 scale, rounded to integer levels after each pass
        def convert(x):
            return x.astype(np.float64)
        first, last, dtype = (lambda x: np.clip(np.floor(x + 0.5), 0, 255)), _round_uint8, np.uint8
    else:  # im2double, im2uint8
        def convert(x):
            return x / 255.0
        first, last, dtype = _identity, (lambda x: _round_uint8(x * 255.0)), np.uint8
    mid = _resize_pass(src, matrices[0], 0, convert, first, np.float64)
    out = _resize_pass(mid, matrices[1], 1, _identity, last, dtype)
    return out if img.ndim == 3 else out[..., 0]


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right of an HWC (or HW) image to a multiple of ``scale`` (BasicSR ``mod_crop``)."""
    h, w = img.shape[:2]
    return img[:h - h % scale, :w - w % scale]


def bicubic_downscale(hr: np.ndarray, scale: int) -> np.ndarray:
    """The x``scale`` low-resolution copy of a mod-cropped HR image, as the benchmarks' MATLAB scripts make it.

    ``imresize(hr, 1 / scale)`` (uint8 in, uint8 out, rounded between passes when uint8).

    Raises:
        ValueError: ``hr`` is not a multiple of ``scale`` (mod-crop it first with :func:`mod_crop`).
    """
    if scale < 1 or int(scale) != scale:
        raise ValueError(f'scale must be a positive integer, got {scale!r}')
    h, w = hr.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f'HR image {h}x{w} is not a multiple of the scale {scale}; mod_crop it first')
    # 1 / scale is inexact for 3, 5, ..., yet ceil(k * scale * (1 / scale)) == k for every scale up to 16 and
    # every k below 5000 (checked), so the LR is exactly (h / scale, w / scale) as in MATLAB
    return imresize(hr, 1.0 / scale)


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB bicubic x``scale`` upsampling as float64 (the 'Bicubic' row of SR tables), unrounded, unclipped.

    A uint8 ``lr`` is taken as 0..255 and the result is in [0, 1] units (divided by 255); a float ``lr``
    keeps its units.
    """
    scaled = lr.astype(np.float64) / 255.0 if lr.dtype == np.uint8 else lr
    return imresize(scaled, float(scale))


# Margin, in LR pixels, that makes a downscaled patch equal the same window of the downscaled whole
# image: an LR pixel's antialiased kernel spans 4 LR pixels (2 each side) plus the one-pixel slack of
# MATLAB's tap count (P = ceil(4 * s) + 2 HR pixels).
PATCH_MARGIN = 3


def bicubic_downscale_patch(hr: np.ndarray, scale: int, top: int, left: int,
                            size: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """(LR patch, HR patch): the ``size`` LR window at (top, left) of ``bicubic_downscale(mod_crop(hr))``.

    Only an HR window of the patch plus :data:`PATCH_MARGIN` LR pixels around it is resized, and the
    result equals the window of the whole downscaled image exactly (inside the image the margin covers
    every tap; at the image border the window is clamped to it, so the symmetric fold is the same).
    """
    hr = mod_crop(hr, scale)
    lr_h, lr_w = hr.shape[0] // scale, hr.shape[1] // scale
    (ph, pw), m = size, PATCH_MARGIN
    if top < 0 or left < 0 or top + ph > lr_h or left + pw > lr_w:
        raise ValueError(f'LR patch {ph}x{pw} at ({top}, {left}) is outside the {lr_h}x{lr_w} LR image')
    t0, l0 = max(0, top - m), max(0, left - m)
    t1, l1 = min(lr_h, top + ph + m), min(lr_w, left + pw + m)
    lr = bicubic_downscale(hr[t0 * scale:t1 * scale, l0 * scale:l1 * scale], scale)
    s = scale
    return (lr[top - t0:top - t0 + ph, left - l0:left - l0 + pw],
            hr[top * s:(top + ph) * s, left * s:(left + pw) * s])


def add_gaussian_noise(clean: np.ndarray, sigma: float, rng: Rng, clip: bool = False,
                       bgr_draw: bool = False) -> np.ndarray:
    """``clean`` (uint8 HWC RGB) plus N(0, sigma^2) noise on the 0..255 scale, as float32 in [0, 1] units.

    The noise is float64 ``rng.normal(0, sigma, clean.shape)`` added to the uint8 values, then divided by 255.

    Args:
        clean: the clean uint8 image.
        sigma: standard deviation on the 0..255 scale (15, 25, 50, ...).
        rng: ``np.random.Generator`` or a legacy ``np.random.RandomState`` (EDT's stream).
        clip: clamp the noisy values to [0, 255] (IPT ``trainer.py``: ``(noise + hr).clamp(0, 255)``).
            EDT's ``test_sample.py`` does not clip (``clip=False``).
        bgr_draw: draw the noise for the channels in B, G, R order (EDT reads images with cv2 and adds
            the noise to the BGR array), so the same stream gives EDT's noise on an RGB image.
    """
    if clean.dtype != np.uint8:
        raise TypeError(f'add_gaussian_noise takes a uint8 image (the protocols add noise to 0..255 values), '
                        f'got {clean.dtype}')
    if sigma < 0:
        raise ValueError(f'sigma must be >= 0, got {sigma}')
    noise = rng.normal(loc=0.0, scale=sigma, size=clean.shape)
    if bgr_draw:
        noise = noise[..., ::-1]
    noisy = clean.astype(np.float64) + noise
    if clip:
        noisy = np.clip(noisy, 0.0, 255.0)
    return (noisy / 255.0).astype(np.float32)


class SequentialNoiseStream:
    """EDT's evaluation noise: ONE legacy ``np.random.seed(seed)`` stream drawn image after image.

    ``test_sample.py`` seeds once and calls ``np.random.normal(0, sigma, img.shape)`` for each test image in
    sorted file order, so the noise of image k depends on the shapes of images 0..k-1. ``noisy(k, clean)``
    reproduces it for random access: draws continue from the last image asked for, and the stream is replayed
    from the start (only drawing, for earlier images' shapes) when an earlier image is asked for.

    Args:
        shapes: callable ``k -> (H, W, C)`` of image k (e.g. from its header), used when replaying.
        sigma: noise standard deviation on the 0..255 scale.
        seed: the legacy seed (EDT: 0).
        clip: clamp to [0, 255] (EDT: False).
    """

    def __init__(self, shapes, sigma: float, seed: int = 0, clip: bool = False):
        self.shapes, self.sigma, self.seed, self.clip = shapes, sigma, seed, clip
        self._rng: Optional[np.random.RandomState] = None
        self._next = 0

    def noisy(self, index: int, clean: np.ndarray) -> np.ndarray:
        """Image ``index`` of the test list with its protocol noise, float32 [0, 1] units (see above)."""
        if self._rng is None or index < self._next:
            self._rng, self._next = np.random.RandomState(self.seed), 0
        while self._next < index:  # skip the draws of the images in between
            self._rng.normal(loc=0.0, scale=self.sigma, size=tuple(self.shapes(self._next)))
            self._next += 1
        self._next += 1
        return add_gaussian_noise(clean, self.sigma, self._rng, clip=self.clip, bgr_draw=True)


def _line_kernel(length: int, angle_deg: float) -> np.ndarray:
    """A normalized 1-px line of ``length`` taps through the centre of an odd square kernel, at ``angle_deg``
    from vertical (motion blur along a falling streak)."""
    size = length if length % 2 else length + 1
    kernel = np.zeros((size, size), np.float64)
    c = size // 2
    t = np.linspace(-(length - 1) / 2, (length - 1) / 2, 4 * length)
    a = math.radians(angle_deg)
    rows, cols = np.rint(c + t * math.cos(a)).astype(int), np.rint(c + t * math.sin(a)).astype(int)
    kernel[rows, cols] = 1.0
    return kernel / kernel.sum()


def add_rain_streaks(clean: np.ndarray, rng: Rng, density: Tuple[float, float] = (0.002, 0.008),
                     length: Tuple[int, int] = (10, 25), angle: Tuple[float, float] = (-30.0, 30.0),
                     intensity: Tuple[float, float] = (0.6, 1.0)) -> np.ndarray:
    """``clean`` (uint8 HWC RGB) plus one layer of synthetic rain streaks, as float32 in [0, 1].

    IPT pre-trains deraining on ImageNet images with synthetic rain streaks added (paper, Sec. 4); the model
    here is the additive one of the Rain100L-style sets (Yang et al., CVPR 2017, "Deep joint rain detection and
    removal": rain image = background + streak layer, clipped): sparse uniform noise (a fraction ``density``
    of the pixels) motion-blurred by a line of ``length`` px at ``angle`` degrees from vertical, scaled so the
    brightest streak adds ``intensity`` x 255, added to every channel and clipped to [0, 255]. The PyTorch
    repository has no training code and the MindSpore port's ``src/data/imagenet.py`` was not read here, so
    the model and its ranges (each drawn uniformly per call) are ours: light rain, one direction per image.

    Args:
        clean: the clean uint8 image.
        rng: ``np.random.Generator`` (or a legacy ``RandomState``).
        density: range of the fraction of pixels that start a streak.
        length: range of the streak length in pixels (inclusive).
        angle: range of the streak direction, degrees from vertical.
        intensity: range of the brightest streak's value, as a fraction of 255.
    """
    import cv2
    if clean.dtype != np.uint8 or clean.ndim != 3:
        raise TypeError(f'add_rain_streaks takes a uint8 HWC image, got {clean.dtype} {clean.shape}')
    h, w = clean.shape[:2]
    drops = (rng.random((h, w)) < rng.uniform(*density)).astype(np.float64)
    kernel = _line_kernel(int(rng.integers(length[0], length[1] + 1)), float(rng.uniform(*angle)))
    streaks = cv2.filter2D(drops, -1, kernel, borderType=cv2.BORDER_REFLECT)
    peak = streaks.max()
    if peak > 0:
        streaks *= rng.uniform(*intensity) * 255.0 / peak
    rainy = np.clip(clean.astype(np.float64) + streaks[..., None], 0.0, 255.0)
    return (rainy / 255.0).astype(np.float32)
