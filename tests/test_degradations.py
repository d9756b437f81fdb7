"""MATLAB-style bicubic resize against the real Set5 LR images, BasicSR and PIL; mod-crop; protocol noise.

The Set5 tests read ``$PPUHD_BENCHMARK_DATA/SR/Set5`` (default ``<repo>/../shared/data``) and skip without it.
``PPUHD_BASICSR=/path/to/BasicSR`` (a checkout with ``basicsr/utils/matlab_functions.py``) adds a comparison
with BasicSR's ``imresize`` (needs torch).
"""
import importlib.util
import math
import os
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from ppuhd.data.degradations import (PATCH_MARGIN, SequentialNoiseStream, add_gaussian_noise, bicubic_downscale,
                                     bicubic_downscale_patch, bicubic_upscale, imresize, mod_crop, resize_weights)
from ppuhd.data.restoration import BENCHMARK_ENV, benchmark_data_dir
from ppuhd.metrics import psnr
from ppuhd.utils.image_io import read_image

SET5 = benchmark_data_dir('SR', 'Set5')
STEMS = ('baby', 'bird', 'butterfly', 'head', 'woman')
needs_set5 = pytest.mark.skipif(SET5 is None, reason=f'Set5 not found: set {BENCHMARK_ENV} to the benchmark data '
                                                     '(with SR/Set5/HR/x2 ... and SR/Set5/LR/x2 ...)')


def _set5(scale):
    for stem in STEMS:
        yield (read_image(os.path.join(SET5, 'HR', f'x{scale}', f'{stem}.png')),
               read_image(os.path.join(SET5, 'LR', f'x{scale}', f'{stem}x{scale}.png')))


@needs_set5
@pytest.mark.parametrize('scale', [2, 3, 4])
def test_downscale_of_set5_hr_equals_the_given_matlab_lr(scale):
    diffs = [np.abs(bicubic_downscale(hr, scale).astype(int) - lr.astype(int)).ravel() for hr, lr in _set5(scale)]
    diff = np.concatenate(diffs)
    assert np.mean(diff <= 1) >= 0.999  # the bar
    assert diff.max() == 0  # measured: every value equal


@needs_set5
@pytest.mark.parametrize('scale', [2, 3, 4])
def test_rounding_between_passes_does_not_reproduce_the_set5_lr(scale):
    """The alternative reading of MATLAB's uint8 path, measured and rejected (see the module docstring)."""
    diff = np.concatenate([np.abs(imresize(hr, 1 / scale, round_passes=True).astype(int) - lr).ravel()
                           for hr, lr in _set5(scale)])
    assert 0.8 < np.mean(diff == 0) < 0.95 and diff.max() <= 2


@needs_set5
@pytest.mark.parametrize('scale, expected', [(2, 33.68), (3, 30.40), (4, 28.43)])
def test_bicubic_upscale_of_set5_gives_the_literature_psnr(scale, expected):
    values = [psnr(bicubic_upscale(lr, scale), hr / 255.0, color='y', crop_border=scale, clamp=False)
              for hr, lr in _set5(scale)]
    assert abs(np.mean(values) - expected) <= 0.02


def _matlab_loop(img, scale):
    """MATLAB imresize.m's contributions + weighted sum, one output pixel at a time (float64)."""
    out = np.asarray(img, np.float64)
    for axis in (0, 1):
        n = out.shape[axis]
        m = int(math.ceil(n * scale))
        width = 4.0 / scale if scale < 1 else 4.0
        aux = list(range(n)) + list(range(n - 1, -1, -1))
        rows = []
        for x in range(1, m + 1):
            u = x / scale + 0.5 * (1 - 1 / scale)
            left = math.floor(u - width / 2)
            acc = 0.0
            taps = [(left + k, u - (left + k)) for k in range(math.ceil(width) + 2)]
            ws = [(scale * _keys(scale * d) if scale < 1 else _keys(d)) for _, d in taps]
            total = sum(ws)
            for (j, _), w in zip(taps, ws):
                acc = acc + (w / total) * np.take(out, aux[(j - 1) % (2 * n)], axis=axis)
            rows.append(acc)
        out = np.stack(rows, axis=axis)
    return out


def _keys(x):
    x = abs(x)
    if x <= 1:
        return 1.5 * x ** 3 - 2.5 * x ** 2 + 1
    return -0.5 * x ** 3 + 2.5 * x ** 2 - 4 * x + 2 if x <= 2 else 0.0


@pytest.mark.parametrize('shape, scale', [((13, 9, 3), 0.5), ((12, 17), 1 / 3), ((9, 11, 2), 0.25), ((5, 7, 3), 2.0),
                                          ((6, 4, 1), 3.0), ((3, 5, 3), 4.0), ((2, 3), 0.25), ((10, 10, 3), 0.7)])
def test_imresize_matches_a_per_pixel_transcription(shape, scale):
    """Tiny images too, where the taps fold back more than once (``mod(idx - 1, 2 * in)``)."""
    img = np.random.default_rng(0).uniform(-0.2, 1.2, shape)
    ours = imresize(img, scale)
    assert ours.shape == (math.ceil(shape[0] * scale), math.ceil(shape[1] * scale)) + shape[2:]
    np.testing.assert_allclose(ours, _matlab_loop(img, scale), rtol=0, atol=1e-12)


def test_uint8_path_is_im2double_resize_im2uint8():
    img = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    expected = np.clip(np.floor(_matlab_loop(img / 255.0, 0.5) * 255 + 0.5), 0, 255)
    out = imresize(img, 0.5)
    assert out.dtype == np.uint8 and np.array_equal(out, expected)
    gray = imresize(img[..., 0], 0.5)
    assert gray.shape == (10, 15) and np.array_equal(gray, out[..., 0])


def test_weights_sum_to_one_and_indices_stay_inside():
    for n, m, s in ((100, 50, 0.5), (99, 33, 1 / 3), (10, 40, 4.0), (1, 4, 4.0)):
        w, idx = resize_weights(n, m, s)
        np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-12)
        assert idx.min() >= 0 and idx.max() < n
    # ceil(4 * 4) + 2 = 18 taps, of which the two outer ones fall on the kernel's zeros at +-2 and are dropped
    assert resize_weights(100, 25, 0.25)[0].shape[1] == 16
    assert resize_weights(100, 25, 0.25, antialias=False)[0].shape[1] <= 6


def test_pil_bicubic_agrees_inside_the_image():
    """PIL's BICUBIC is the same a = -0.5 kernel (antialiased when reducing) in 8-bit fixed point, but it
    renormalizes the weights at the borders instead of folding: equal within a level away from them."""
    rng = np.random.default_rng(2)
    smooth = (np.cumsum(np.cumsum(rng.normal(0, 1, (96, 120, 3)), 0), 1))
    img = np.clip((smooth - smooth.min()) / np.ptp(smooth) * 255, 0, 255).astype(np.uint8)
    for scale in (2, 3, 4):
        h, w = img.shape[0] // scale, img.shape[1] // scale
        pil = np.asarray(Image.fromarray(img).resize((w, h), Image.BICUBIC)).astype(int)
        assert np.abs(imresize(img, 1 / scale).astype(int) - pil)[3:-3, 3:-3].max() <= 1
        lr = img[:h, :w]
        pil_up = np.asarray(Image.fromarray(lr).resize((w * scale, h * scale), Image.BICUBIC)).astype(int)
        m = 2 * scale
        assert np.abs(imresize(lr, float(scale)).astype(int) - pil_up)[m:-m, m:-m].max() <= 1


def test_4k_downscale_memory_stays_near_the_output():
    """No dense N x N matrices and no whole float64 copy of the uint8 input: peak < 1.5x the float64 output
    of the first pass (1080 x 3840 x 3 x 8 bytes = 100 MB for a 4K x2 downscale)."""
    img = np.zeros((2160, 3840, 3), np.uint8)
    img[::7, ::5] = 255
    tracemalloc.start()
    lr = imresize(img, 0.5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert lr.shape == (1080, 1920, 3)
    assert peak < 1.5 * 1080 * 3840 * 3 * 8


def test_bad_input_is_reported():
    with pytest.raises(ValueError, match='scale'):
        imresize(np.zeros((4, 4)), 0)
    with pytest.raises(TypeError, match='uint8 or float'):
        imresize(np.zeros((4, 4), np.int32), 2)
    with pytest.raises(ValueError, match='needs a uint8'):
        imresize(np.zeros((4, 4)), 2, round_passes=True)
    with pytest.raises(ValueError, match='not a multiple of the scale 3'):
        bicubic_downscale(np.zeros((10, 9, 3), np.uint8), 3)


def test_mod_crop():
    img = np.arange(11 * 7 * 3).reshape(11, 7, 3)
    assert mod_crop(img, 4).shape == (8, 4, 3) and np.array_equal(mod_crop(img, 4), img[:8, :4])
    assert mod_crop(img, 1).shape == img.shape


@pytest.mark.parametrize('scale', [2, 3, 4])
def test_patch_downscale_equals_the_window_of_the_whole_downscale(scale):
    rng = np.random.default_rng(scale)
    hr = rng.integers(0, 256, (20 * scale + scale - 1, 26 * scale + 1, 3), dtype=np.uint8)  # not mod-cropped
    whole = bicubic_downscale(mod_crop(hr, scale), scale)
    for top, left in ((0, 0), (13, 19), (5, 9), (1, 2)):
        lr, gt = bicubic_downscale_patch(hr, scale, top, left, (7, 7))
        assert np.array_equal(lr, whole[top:top + 7, left:left + 7])
        assert np.array_equal(gt, hr[top * scale:(top + 7) * scale, left * scale:(left + 7) * scale])
    # the margin is needed: without it the window's borders differ
    bare = bicubic_downscale(hr[5 * scale:12 * scale, 9 * scale:16 * scale], scale)
    assert not np.array_equal(bare, whole[5:12, 9:16]) and PATCH_MARGIN == 3
    with pytest.raises(ValueError, match='outside'):
        bicubic_downscale_patch(hr, scale, 15, 0, (7, 7))


def test_edt_noise_stream_reproduces_test_sample_py_in_any_order():
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in ((9, 7, 3), (5, 6, 3), (8, 8, 3))]
    # fenglinglwb/EDT test_sample.py: np.random.seed(0) once; per image (cv2 BGR, sorted order)
    # lq = bgr.astype(float32) + np.random.normal(0, sigma, bgr.shape); then [:, :, ::-1] / 255, .float()
    np.random.seed(0)
    expected = []
    for img in images:
        bgr = img[..., ::-1].astype(np.float32)
        noisy = bgr + np.random.normal(loc=0.0, scale=25, size=bgr.shape)
        expected.append((noisy[..., ::-1] / 255.0).astype(np.float32))
    stream = SequentialNoiseStream(lambda k: images[k].shape, sigma=25, seed=0)
    for k in (2, 0, 1, 2, 1):
        np.testing.assert_array_equal(stream.noisy(k, images[k]), expected[k])
    assert min(e.min() for e in expected) < 0  # EDT does not clip


def test_noise_clip_and_seed_options():
    clean = np.full((16, 16, 3), 250, np.uint8)
    clipped = add_gaussian_noise(clean, 50, np.random.default_rng(0), clip=True)
    unclipped = add_gaussian_noise(clean, 50, np.random.default_rng(0), clip=False)
    assert clipped.dtype == np.float32 and clipped.max() <= 1.0 and unclipped.max() > 1.0
    np.testing.assert_array_equal(np.minimum(unclipped, 1.0), clipped)
    np.testing.assert_array_equal(add_gaussian_noise(clean, 15, np.random.default_rng(7)),
                                  add_gaussian_noise(clean, 15, np.random.default_rng(7)))
    assert np.std(unclipped * 255.0 - 250) == pytest.approx(50, rel=0.15)
    with pytest.raises(TypeError, match='uint8'):
        add_gaussian_noise(clean / 255.0, 15, np.random.default_rng(0))


BASICSR = os.environ.get('PPUHD_BASICSR', '')


@pytest.mark.skipif(not os.path.isfile(os.path.join(BASICSR, 'basicsr', 'utils', 'matlab_functions.py')),
                    reason='set PPUHD_BASICSR to a BasicSR checkout to compare with its imresize')
@pytest.mark.parametrize('scale', [0.5, 1 / 3, 0.25, 2, 3, 4])
def test_matches_basicsr_imresize(scale):
    pytest.importorskip('torch')
    path = os.path.join(BASICSR, 'basicsr', 'utils', 'matlab_functions.py')
    spec = importlib.util.spec_from_file_location('basicsr_matlab_functions', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    img = np.random.default_rng(4).uniform(0, 1, (48, 60, 3)).astype(np.float32)
    np.testing.assert_allclose(imresize(img, scale), module.imresize(img, scale), rtol=0, atol=1e-5)  # BasicSR: float32
