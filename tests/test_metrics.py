"""PSNR / SSIM / MAE against scikit-image and hand computations."""
import numpy as np
import pytest
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ppuhd.metrics import HIGHER_IS_BETTER, METRICS, compute_metrics, mae, psnr, rgb_to_y, ssim

SKIMAGE_WINDOWS = {
    'uniform7': {},
    'gaussian11': {'gaussian_weights': True, 'sigma': 1.5, 'use_sample_covariance': False},
}


def degrade(img: np.ndarray, seed: int) -> np.ndarray:
    """A darkened, noisy uint8 copy: a plausible low-light input / imperfect output."""
    rng = np.random.default_rng(seed)
    out = img.astype(np.float64) * rng.uniform(0.3, 0.8) + rng.normal(0, 12, img.shape)
    return np.clip(out, 0, 255).round().astype(np.uint8)


def image_pairs():
    """(name, pred, target, data_range): random and real images, uint8/255 and float/1."""
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, (37, 45, 3), dtype=np.uint8)
    pairs = [('random', degrade(target, 1), target)]
    for name, img in (('astronaut', data.astronaut()), ('chelsea', data.chelsea())):
        img = img[::2, ::2]  # keep the test fast; still real image statistics
        pairs.append((name, degrade(img, 2), img))
    out = []
    for name, pred, target in pairs:
        out.append((f'{name}-uint8', pred, target, 255))
        out.append((f'{name}-float', pred.astype(np.float32) / 255, target.astype(np.float32) / 255, 1.0))
    return out


PAIRS = image_pairs()
IDS = [p[0] for p in PAIRS]


@pytest.mark.parametrize('name,pred,target,data_range', PAIRS, ids=IDS)
def test_psnr_matches_skimage(name, pred, target, data_range):
    ref = peak_signal_noise_ratio(target, pred, data_range=data_range)
    assert abs(psnr(pred, target, data_range=data_range) - ref) < 1e-4


@pytest.mark.parametrize('window', sorted(SKIMAGE_WINDOWS))
@pytest.mark.parametrize('name,pred,target,data_range', PAIRS, ids=IDS)
def test_ssim_matches_skimage(name, pred, target, data_range, window):
    ref = structural_similarity(target, pred, data_range=data_range, channel_axis=-1, **SKIMAGE_WINDOWS[window])
    assert abs(ssim(pred, target, data_range=data_range, window=window) - ref) < 1e-4


def test_ssim_grayscale_and_identity():
    img = data.camera()[::4, ::4]
    noisy = degrade(img, 3)
    ref = structural_similarity(img, noisy, data_range=255)
    assert abs(ssim(noisy, img, data_range=255) - ref) < 1e-4
    assert ssim(img, img, data_range=255, window='gaussian11') == pytest.approx(1.0)
    assert psnr(img, img, data_range=255) == float('inf')


def test_clamp_semantics():
    rng = np.random.default_rng(4)
    target = rng.uniform(0, 1, (24, 24, 3))
    pred = target + rng.normal(0, 0.2, target.shape)  # leaves [0, 1], as raw network outputs do
    # clamp=False is the official UHDFour psnr: 10 * log10(1 / mse) on the raw output
    official = 10 * np.log10(1 / np.mean((pred - target) ** 2))
    assert abs(psnr(pred, target, clamp=False) - official) < 1e-10
    clipped = np.clip(pred, 0, 1)
    assert abs(psnr(pred, target, clamp=True) - peak_signal_noise_ratio(target, clipped, data_range=1)) < 1e-10
    assert psnr(pred, target, clamp=True) > psnr(pred, target, clamp=False)
    ref = structural_similarity(target, pred, data_range=1, channel_axis=-1)
    assert abs(ssim(pred, target, clamp=False) - ref) < 1e-10
    assert mae(pred, target, clamp=True) == pytest.approx(np.mean(np.abs(clipped - target)))
    # clamping never touches the target
    assert psnr(target, pred, clamp=True) == psnr(target, pred, clamp=False)


def test_y_channel_hand_computed():
    rng = np.random.default_rng(5)
    target = rng.uniform(0, 1, (12, 13, 3))
    pred = np.clip(target + rng.normal(0, 0.05, target.shape), 0, 1)

    def luma(r, g, b):  # BasicSR rgb2ycbcr(y_only=True) on [0, 1] input, float output
        return (16.0 + 65.481 * r + 128.553 * g + 24.966 * b) / 255.0

    y_pred = np.array([[luma(*px) for px in row] for row in pred])
    y_target = np.array([[luma(*px) for px in row] for row in target])
    expected = 10 * np.log10(1 / np.mean((y_pred - y_target) ** 2))
    assert abs(psnr(pred, target, color='y') - expected) < 1e-10
    assert mae(pred, target, color='y') == pytest.approx(np.mean(np.abs(y_pred - y_target)))
    # studio swing: black -> 16, white -> 235, on either scale
    assert rgb_to_y(np.zeros((1, 1, 3)))[0, 0, 0] == pytest.approx(16 / 255)
    assert rgb_to_y(np.full((1, 1, 3), 255.0), data_range=255)[0, 0, 0] == pytest.approx(235, abs=1e-3)
    # uint8 / 255 and float / 1 agree
    p8, t8 = (pred * 255).round().astype(np.uint8), (target * 255).round().astype(np.uint8)
    assert psnr(p8, t8, 255, color='y') == pytest.approx(psnr(p8 / 255.0, t8 / 255.0, 1.0, color='y'))
    assert ssim(p8, t8, 255, color='y', window='gaussian11') == pytest.approx(
        ssim(p8 / 255.0, t8 / 255.0, 1.0, color='y', window='gaussian11'))


def test_mae_units():
    target = np.zeros((8, 8, 3), dtype=np.uint8)
    pred = np.full((8, 8, 3), 51, dtype=np.uint8)
    assert mae(pred, target, data_range=255) == pytest.approx(0.2)
    assert mae(pred / 255.0, target / 255.0) == pytest.approx(0.2)
    _, pred, target, _ = PAIRS[2]  # astronaut uint8
    assert mae(pred, target, 255) == pytest.approx(np.mean(np.abs(pred / 255.0 - target / 255.0)))


def test_input_errors():
    a, b = np.zeros((8, 8, 3)), np.zeros((8, 9, 3))
    for fn in METRICS.values():
        with pytest.raises(ValueError, match=r'\(8, 8, 3\).*\(8, 9, 3\)'):
            fn(a, b)
    with pytest.raises(ValueError, match='data_range=255'):
        psnr(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8), data_range=1.0)
    with pytest.raises(ValueError, match='window'):
        ssim(a, a, window='gaussian7')
    with pytest.raises(ValueError, match='color'):
        psnr(a, a, color='lab')


def test_compute_metrics():
    _, pred, target, _ = PAIRS[1]  # random, float
    cfg = {'psnr': {'data_range': 1.0, 'clamp': False}, 'ssim': {'window': 'gaussian11'}, 'mae': {}}
    out = compute_metrics(pred, target, cfg)
    assert out == {'psnr': psnr(pred, target, clamp=False), 'ssim': ssim(pred, target, window='gaussian11'),
                   'mae': mae(pred, target)}
    assert set(HIGHER_IS_BETTER) == set(METRICS)
    with pytest.raises(KeyError, match='fid.*lpips, mae, psnr, ssim'):
        compute_metrics(pred, target, {'fid': {}})
