"""SR protocol: crop border, the papers' presets against transcriptions of their evaluation code, Set5 bicubic rows.

The Set5 test reads ``$PPUHD_BENCHMARK_DATA/SR/Set5`` (default ``<repo>/../shared/data``) and skips without it.
"""
import math
import os

import cv2
import numpy as np
import pytest

from ppuhd.data.degradations import bicubic_upscale
from ppuhd.data.restoration import BENCHMARK_ENV, benchmark_data_dir
from ppuhd.metrics import PROTOCOLS, compute_metrics, psnr, resolve_metrics, ssim
from ppuhd.utils.image_io import read_image


def test_presets_expand_to_metric_kwargs_with_the_scale():
    cfg = resolve_metrics({'psnr': {'clamp': False}, 'mae': {'crop_border': 'scale'}, 'ssim': None}, 'edt_sr', 4)
    assert cfg['psnr'] == {'data_range': 1.0, 'clamp': True, 'color': 'y', 'crop_border': 4, 'quantize': True}
    assert cfg['ssim'] == dict(cfg['psnr'], window='gaussian11')
    assert cfg['mae'] == {'crop_border': 4}  # metrics outside the protocol are kept, 'scale' resolved
    assert resolve_metrics(None, 'edt_denoise', 1)['psnr']['color'] == 'rgb'
    assert resolve_metrics(None, 'edt_derain', 1)['ssim']['crop_border'] == 0
    assert all(resolve_metrics(None, f'ipt_{t}', 1)['psnr']['color'] == 'y' for t in ('sr', 'denoise', 'derain'))
    assert resolve_metrics(None, 'ipt_sr', 3)['psnr']['crop_border'] == 3
    assert resolve_metrics(None, 'sr_y', 2)['psnr']['quantize'] is False
    assert resolve_metrics({'psnr': {'crop_border': 'scale'}}, None, 1)['psnr']['crop_border'] == 0
    assert resolve_metrics({'psnr': None}, None, 2) == {'psnr': None}  # left for the batched evaluation
    assert PROTOCOLS['edt_sr']['psnr']['crop_border'] == 'scale'  # the table is not modified


def test_protocol_errors():
    with pytest.raises(KeyError, match=r"Unknown eval.protocol 'edt'; valid protocols: edt_denoise, edt_derain"):
        resolve_metrics(None, 'edt', 2)
    with pytest.raises(ValueError, match=r"eval.metrics.psnr.crop_border must be an integer >= 0 or 'scale'"):
        resolve_metrics({'psnr': {'crop_border': 'border'}}, None, 2)
    with pytest.raises(ValueError, match='scale must be a positive integer'):
        resolve_metrics(None, 'sr_y', 0)


def test_crop_border_removes_each_side():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 1, (20, 24, 3)), rng.uniform(0, 1, (20, 24, 3))
    b[:3] = a[:3]  # identical borders: cropping them lowers the PSNR
    assert psnr(a, b, crop_border=3) == pytest.approx(psnr(a[3:-3, 3:-3], b[3:-3, 3:-3]), abs=1e-12)
    assert psnr(a, b, crop_border=3) < psnr(a, b)
    assert ssim(a, b, crop_border=2, window='gaussian11') == pytest.approx(
        ssim(a[2:-2, 2:-2], b[2:-2, 2:-2], window='gaussian11'), abs=1e-12)
    with pytest.raises(ValueError, match='leaves nothing of a 20x24 image'):
        psnr(a, b, crop_border=10)
    with pytest.raises(ValueError, match='non-negative integer'):
        psnr(a, b, crop_border=-1)


# fenglinglwb/EDT utils/common.py, transcribed: tensor2img (clamp, x255, round, uint8, BGR), calculate_psnr_ssim
def _edt_tensor2img(rgb01):
    return (np.clip(rgb01.astype(np.float32), 0, 1)[:, :, ::-1] * 255.0).round().astype(np.uint8)


def _edt_bgr2y(img):
    img = img * 255.0
    return np.dot(img, [24.966, 128.553, 65.481]) / 255.0 + 16.0


def _edt_ssim(img1, img2):
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    kernel = cv2.getGaussianKernel(11, 1.5)
    window = np.outer(kernel, kernel.transpose())
    mu1 = cv2.filter2D(img1, -1, window)[5:-5, 5:-5]
    mu2 = cv2.filter2D(img2, -1, window)[5:-5, 5:-5]
    s1 = cv2.filter2D(img1 ** 2, -1, window)[5:-5, 5:-5] - mu1 ** 2
    s2 = cv2.filter2D(img2 ** 2, -1, window)[5:-5, 5:-5] - mu2 ** 2
    s12 = cv2.filter2D(img1 * img2, -1, window)[5:-5, 5:-5] - mu1 * mu2
    return (((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (s1 + s2 + c2))).mean()


def _edt_psnr_ssim(output_bgr, gt_bgr, to_y, bd):
    img1, img2 = output_bgr.astype(np.float64), gt_bgr.astype(np.float64)
    if to_y:
        img1, img2 = _edt_bgr2y(img1 / 255.0) / 255.0 * 255.0, _edt_bgr2y(img2 / 255.0) / 255.0 * 255.0
    if bd:
        img1, img2 = img1[bd:-bd, bd:-bd], img2[bd:-bd, bd:-bd]
    return 20 * math.log10(255.0 / math.sqrt(np.mean((img1 - img2) ** 2))), _edt_ssim(img1, img2)


def _pair(seed=1, hw=(40, 44)):
    """A float prediction (slightly out of range) and a uint8-valued target."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 256, (*hw, 3)).astype(np.float32) / 255
    pred = np.clip(target + rng.normal(0, 0.05, target.shape), -0.05, 1.05).astype(np.float32)
    return pred, target


@pytest.mark.parametrize('protocol, to_y, bd', [('edt_sr', True, 3), ('edt_denoise', False, 0),
                                                ('edt_derain', True, 0)])
def test_edt_presets_equal_edt_calculate_psnr_ssim(protocol, to_y, bd):
    pred, target = _pair()
    ours = compute_metrics(pred, target, resolve_metrics(None, protocol, 3 if bd else 1))
    gt_bgr = (target[:, :, ::-1] * 255).round().astype(np.uint8)
    ref_psnr, ref_ssim = _edt_psnr_ssim(_edt_tensor2img(pred), gt_bgr, to_y, bd)
    assert ours['psnr'] == pytest.approx(ref_psnr, abs=1e-9)
    assert ours['ssim'] == pytest.approx(ref_ssim, abs=1e-9)


def _ipt_calc_psnr(sr, hr, scale, rgb_range=255):
    """huawei-noah/Pretrained-IPT utility.calc_psnr (cal_type 'y') on HWC RGB arrays; sr already quantized."""
    diff = (sr - hr) / rgb_range
    diff = (diff * np.array([65.738, 129.057, 25.064]) / 256).sum(axis=-1)
    valid = diff if scale == 1 else diff[scale:-scale, scale:-scale]
    return -10 * math.log10(np.mean(valid ** 2))


@pytest.mark.parametrize('protocol, scale', [('ipt_sr', 2), ('ipt_sr', 4), ('ipt_denoise', 1), ('ipt_derain', 1)])
def test_ipt_presets_equal_ipt_calc_psnr_within_1e4_db(protocol, scale):
    pred, target = _pair(seed=scale)
    ours = compute_metrics(pred, target, resolve_metrics(None, protocol, scale))['psnr']
    sr = np.round(np.clip(pred.astype(np.float64) * 255, 0, 255))  # utility.quantize
    assert abs(ours - _ipt_calc_psnr(sr, target * 255.0, scale)) < 1e-4


SET5 = benchmark_data_dir('SR', 'Set5')


@pytest.mark.skipif(SET5 is None, reason=f'Set5 not found: set {BENCHMARK_ENV} to the benchmark data')
@pytest.mark.parametrize('scale, expected', [(2, 33.68), (3, 30.40), (4, 28.43)])
def test_set5_bicubic_row_under_the_sr_protocols(scale, expected):
    """The 'Bicubic' row as tools/eval.py reports it beside a model: the float upscale of the given LR."""
    rows = {p: [] for p in ('sr_y', 'edt_sr', 'ipt_sr')}
    for stem in ('baby', 'bird', 'butterfly', 'head', 'woman'):
        hr = read_image(os.path.join(SET5, 'HR', f'x{scale}', f'{stem}.png')) / 255.0
        up = bicubic_upscale(read_image(os.path.join(SET5, 'LR', f'x{scale}', f'{stem}x{scale}.png')), scale)
        for p in rows:
            rows[p].append(compute_metrics(up, hr, resolve_metrics(None, p, scale))['psnr'])
    for p, values in rows.items():
        assert abs(np.mean(values) - expected) <= 0.02, p
