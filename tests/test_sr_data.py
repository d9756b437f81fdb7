"""SR / denoise / derain datasets: layouts, pairing and its errors, on-the-fly LR, noise seeding, base configs.

Tests on the real benchmark images read ``$PPUHD_BENCHMARK_DATA`` (default ``<repo>/../shared/data``) and skip
without it.
"""
import glob
import os

import cv2
import numpy as np
import pytest

from conftest import ROOT
from ppuhd.config import apply_overrides, load_config
from ppuhd.data import (DenoiseDataset, DerainDataset, SRPairedDataset, SRSyntheticDataset, benchmark_data_dir,
                        find_sr_dirs)
from ppuhd.data.builder import build_dataset
from ppuhd.data.degradations import bicubic_downscale, mod_crop
from ppuhd.data.restoration import BENCHMARK_ENV
from ppuhd.inference import ImageIO
from ppuhd.registry import DATASETS
from ppuhd.utils.image_io import read_image, write_image


def _img(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _write_sr(hr_dir, lr_dir, scale, stems=('a', 'b'), hr_hw=(24, 36), lr_suffix=True, seed=0):
    """HR images and their MATLAB bicubic LR (``<stem>x<s>.png`` when ``lr_suffix``)."""
    os.makedirs(hr_dir, exist_ok=True)
    os.makedirs(lr_dir, exist_ok=True)
    for i, stem in enumerate(stems):
        hr = _img(*hr_hw, seed + i)
        write_image(os.path.join(hr_dir, f'{stem}.png'), hr)
        name = f'{stem}x{scale}' if lr_suffix else stem
        write_image(os.path.join(lr_dir, f'{name}.png'), bicubic_downscale(mod_crop(hr, scale), scale))


SR_LAYOUTS = {
    'div2k': ('DIV2K_train_HR', 'DIV2K_train_LR_bicubic/X{s}', 'DIV2K_valid_HR', 'DIV2K_valid_LR_bicubic/X{s}'),
    'div2k-sub': ('DIV2K_train_HR_sub', 'DIV2K_train_LR_bicubic/X{s}_sub', None, None),
    'flickr2k': ('Flickr2K_HR', 'Flickr2K_LR_bicubic/X{s}', None, None),
    'benchmark': ('HR', 'LR_bicubic/X{s}', None, None),
    'edt': ('HR/x{s}', 'LR/x{s}', None, None),
}


@pytest.mark.parametrize('layout', SR_LAYOUTS, ids=SR_LAYOUTS.keys())
def test_sr_layouts_are_detected_and_pair_lr_with_hr(tmp_path, layout):
    hr, lr, val_hr, val_lr = SR_LAYOUTS[layout]
    # the sub-image folders of tools/extract_subimages.py keep the HR names on the LR side
    _write_sr(tmp_path / hr.format(s=3), tmp_path / lr.format(s=3), 3, stems=('0002', '0001'),
              lr_suffix=layout != 'div2k-sub')
    if val_hr:
        _write_sr(tmp_path / val_hr, tmp_path / val_lr.format(s=3), 3, stems=('0801',), seed=5)
    ds = DATASETS.build({'type': 'SRPairedDataset', 'root': str(tmp_path), 'split': 'train'},
                        image_io=ImageIO(scale=3))
    assert [p[2] for p in ds.pairs] == ['0001', '0002'] and ds.scale == 3
    sample = ds[0]
    assert sample['name'] == '0001' and sample['lq'].shape == (3, 8, 12) and sample['gt'].shape == (3, 24, 36)
    hr_img = read_image(str(tmp_path / hr.format(s=3) / '0001.png'))
    np.testing.assert_array_equal(np.round(sample['gt'].transpose(1, 2, 0) * 255).astype(np.uint8), hr_img)
    np.testing.assert_allclose(sample['lq'].transpose(1, 2, 0),
                               bicubic_downscale(hr_img, 3).astype(np.float32) / 255, atol=1e-7)
    if val_hr:
        val = SRPairedDataset(root=str(tmp_path), split='val', scale=3)
        assert [p[2] for p in val.pairs] == ['0801'] and 'DIV2K_valid' in val.layout


def test_sr_crops_are_at_the_scale_ratio_and_seeded(tmp_path):
    _write_sr(tmp_path / 'HR', tmp_path / 'LR_bicubic' / 'X4', 4, hr_hw=(40, 48))
    ds = SRPairedDataset(root=str(tmp_path), image_io=ImageIO(scale=4), crop_size=5, hflip=True, vflip=True,
                         rot90=True, repeat=3)
    assert len(ds) == 6
    a, b = ds[(1, 123)], ds[(1, 123)]
    np.testing.assert_array_equal(a['lq'], b['lq'])
    assert a['lq'].shape == (3, 5, 5) and a['gt'].shape == (3, 20, 20)
    assert any(not np.array_equal(ds[(1, s)]['lq'], a['lq']) for s in range(5))


def test_sr_hr_not_mod_cropped_is_cropped_to_scale_x_lr(tmp_path):
    _write_sr(tmp_path / 'HR', tmp_path / 'LR_bicubic' / 'X3', 3, hr_hw=(26, 37))  # LR 8x12 of the 24x36 crop
    sample = SRPairedDataset(root=str(tmp_path), scale=3)[0]
    assert sample['lq'].shape == (3, 8, 12) and sample['gt'].shape == (3, 24, 36)


def test_several_roots_are_concatenated(tmp_path):
    _write_sr(tmp_path / 'DIV2K' / 'DIV2K_train_HR', tmp_path / 'DIV2K' / 'DIV2K_train_LR_bicubic' / 'X2', 2,
              stems=('0001',))
    _write_sr(tmp_path / 'Flickr2K' / 'Flickr2K_HR', tmp_path / 'Flickr2K' / 'Flickr2K_LR_bicubic' / 'X2', 2,
              stems=('000001', '000002'))
    ds = SRPairedDataset(root=[str(tmp_path / 'DIV2K'), str(tmp_path / 'Flickr2K')], scale=2)
    assert [p[2] for p in ds.pairs] == ['0001', '000001', '000002'] and '+' in ds.layout


def test_explicit_folders_pair_with_or_without_the_scale_suffix(tmp_path):
    _write_sr(tmp_path / 'hr', tmp_path / 'lr', 2, stems=('x2', 'bx2'))  # stems that end in 'x2' themselves
    ds = SRPairedDataset(input_dir=str(tmp_path / 'lr'), gt_dir=str(tmp_path / 'hr'), scale=2)
    assert [os.path.basename(p[0]) for p in ds.pairs] == ['bx2x2.png', 'x2x2.png']
    _write_sr(tmp_path / 'hr2', tmp_path / 'lr2', 2, lr_suffix=False)
    assert len(SRPairedDataset(input_dir=str(tmp_path / 'lr2'), gt_dir=str(tmp_path / 'hr2'), scale=2)) == 2


def test_missing_lr_folder_lists_the_layouts_searched(tmp_path):
    os.makedirs(tmp_path / 'HR')
    write_image(str(tmp_path / 'HR' / 'a.png'), _img(8, 8, 0))
    with pytest.raises(FileNotFoundError, match=r'(?s)No super-resolution layout.*LR_bicubic missing.*input_dir'):
        SRPairedDataset(root=str(tmp_path), scale=2)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        SRPairedDataset(root=str(tmp_path / 'nope'), scale=2)


def test_wrong_scale_folder_names_the_scales_there(tmp_path):
    _write_sr(tmp_path / 'HR', tmp_path / 'LR_bicubic' / 'X3', 3)
    _write_sr(tmp_path / 'HR', tmp_path / 'LR_bicubic' / 'X4', 4)
    with pytest.raises(FileNotFoundError, match=r"No x2 folder in '.*LR_bicubic' \(scales found: x3, x4\)"):
        SRPairedDataset(root=str(tmp_path), image_io=ImageIO(scale=2))
    with pytest.raises(FileNotFoundError, match=r'scales found: x3, x4'):
        find_sr_dirs(str(tmp_path), 'val', 2)


def test_lr_of_another_scale_in_the_folder_is_caught_by_its_size(tmp_path):
    _write_sr(tmp_path / 'HR', tmp_path / 'LR' / 'x2', 2, hr_hw=(24, 36))
    os.rename(tmp_path / 'LR' / 'x2', tmp_path / 'LR' / 'x3')  # x2 images in the x3 folder
    os.makedirs(tmp_path / 'HR' / 'x3')
    for f in glob.glob(str(tmp_path / 'HR' / '*.png')):
        os.rename(f, tmp_path / 'HR' / 'x3' / os.path.basename(f))
    for f in glob.glob(str(tmp_path / 'LR' / 'x3' / '*.png')):
        os.rename(f, f.replace('x2.png', 'x3.png'))
    with pytest.raises(ValueError, match=r'2 pair\(s\) have sizes that are not x3'):
        SRPairedDataset(root=str(tmp_path), scale=3)


def test_unmatched_stems_are_listed(tmp_path):
    _write_sr(tmp_path / 'HR', tmp_path / 'LR_bicubic' / 'X2', 2, stems=('baby', 'bird'))
    os.rename(tmp_path / 'LR_bicubic' / 'X2' / 'birdx2.png', tmp_path / 'LR_bicubic' / 'X2' / 'brdx2.png')
    with pytest.raises(ValueError, match=r"(?s)1 in '.*X2' without a gt \[brdx2.png\].*without an input \[bird.png\]"
                                         r".*'babyx2' pairs with 'baby'"):
        SRPairedDataset(root=str(tmp_path), scale=2)


def test_scale_comes_from_the_model_and_must_agree(tmp_path):
    _write_sr(tmp_path / 'HR', tmp_path / 'LR_bicubic' / 'X2', 2)
    with pytest.raises(ValueError, match='needs a scale > 1'):
        SRPairedDataset(root=str(tmp_path))
    with pytest.raises(ValueError, match=r'dataset says scale 3 but the model is x2'):
        SRPairedDataset(root=str(tmp_path), scale=3, image_io=ImageIO(scale=2))

    class Model:
        image_io = ImageIO(scale=2, size_multiple=4)
    ds = build_dataset({'data': {'val': {'type': 'SRPairedDataset', 'root': str(tmp_path), 'crop_size': 7}}},
                       'val', Model())
    assert ds.scale == 2 and ds.crop_hw == (4, 4)


def test_div2k_root_with_full_and_sub_images_needs_a_choice(tmp_path):
    _write_sr(tmp_path / 'DIV2K_train_HR', tmp_path / 'DIV2K_train_LR_bicubic' / 'X2', 2, stems=('0001',))
    _write_sr(tmp_path / 'DIV2K_train_HR_sub', tmp_path / 'DIV2K_train_LR_bicubic' / 'X2_sub', 2,
              stems=('0001_s001', '0001_s002'), lr_suffix=False)
    with pytest.raises(ValueError, match='set sub_images'):
        SRPairedDataset(root=str(tmp_path), scale=2)
    assert len(SRPairedDataset(root=str(tmp_path), scale=2, sub_images=True)) == 2
    assert len(SRPairedDataset(root=str(tmp_path), scale=2, sub_images=False)) == 1


def test_synthetic_lr_equals_the_offline_bicubic_of_the_whole_image(tmp_path):
    os.makedirs(tmp_path / 'hr' / 'n01' / 'deeper')
    hr = _img(50, 61, 1)
    write_image(str(tmp_path / 'hr' / 'n01' / 'a.png'), hr)
    write_image(str(tmp_path / 'hr' / 'n01' / 'deeper' / 'b.png'), _img(20, 20, 2))
    write_image(str(tmp_path / 'hr' / 'c.png'), _img(30, 30, 3))
    ds = SRSyntheticDataset(root=str(tmp_path / 'hr'), recursive=True, scale=3, crop_size=6, hflip=True)
    assert [os.path.relpath(p, tmp_path / 'hr') for p in ds.paths] == ['c.png', 'n01/a.png', 'n01/deeper/b.png']
    whole = bicubic_downscale(mod_crop(hr, 3), 3).astype(np.float32) / 255
    seen = set()
    for seed in range(6):
        s = ds[(1, seed)]
        lq, gt = s['lq'].transpose(1, 2, 0), s['gt'].transpose(1, 2, 0)
        assert lq.shape == (6, 6, 3) and gt.shape == (18, 18, 3)
        # locate the patch in the whole LR (undoing a possible flip) and check every value
        windows = [(t, x) for t in range(whole.shape[0] - 5) for x in range(whole.shape[1] - 5)]
        hits = [(t, x, f) for f in (False, True) for t, x in windows
                if np.array_equal(whole[t:t + 6, x:x + 6][:, ::-1] if f else whole[t:t + 6, x:x + 6], lq)]
        assert len(hits) == 1
        seen.add(hits[0])
    assert len(seen) > 1
    np.testing.assert_array_equal(ds[(1, 4)]['lq'], ds[(1, 4)]['lq'])
    evaluation = SRSyntheticDataset(root=str(tmp_path / 'hr'), recursive=True, scale=3)[1]
    np.testing.assert_allclose(evaluation['lq'].transpose(1, 2, 0), whole, atol=1e-7)
    assert evaluation['gt'].shape == (3, 48, 60)


def test_synthetic_small_images_fail_or_are_skipped(tmp_path):
    os.makedirs(tmp_path / 'hr')
    write_image(str(tmp_path / 'hr' / 'big.png'), _img(40, 40, 0))
    write_image(str(tmp_path / 'hr' / 'small.png'), _img(20, 40, 0))
    ds = SRSyntheticDataset(root=str(tmp_path / 'hr'), scale=4, crop_size=8)
    with pytest.raises(ValueError, match=r'small.png is 20x40, smaller than the x4 HR patch 32x32.*skip_smaller'):
        ds[(1, 0)]
    kept = SRSyntheticDataset(root=str(tmp_path / 'hr'), scale=4, crop_size=8, skip_smaller=True)
    assert len(kept) == 1 and kept.skipped == 1 and '1 smaller than the patch skipped' in repr(kept)
    assert len(SRSyntheticDataset(root=str(tmp_path / 'hr'), scale=4, max_images=1)) == 1


def _write_clean(folder, n=3, ext='png', hw=(16, 20)):
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        write_image(os.path.join(folder, f'{i + 1}.{ext}'), _img(hw[0] + i, hw[1], 10 + i))


def test_denoise_evaluation_noise_is_fixed_per_image_and_training_noise_per_sample(tmp_path):
    _write_clean(tmp_path / 'clean')
    ds = DenoiseDataset(root=str(tmp_path / 'clean'), sigma=25, crop_size=8, hflip=True)
    first = ds[0]['lq']
    np.testing.assert_array_equal(ds[2]['lq'], DenoiseDataset(root=str(tmp_path / 'clean'), sigma=25)[2]['lq'])
    np.testing.assert_array_equal(first, ds[0]['lq'])
    assert first.shape == (3, 16, 20)  # evaluation: whole image, no crop
    other_seed = DenoiseDataset(root=str(tmp_path / 'clean'), sigma=25, noise_seed=1)[0]['lq']
    assert not np.array_equal(first, other_seed)
    noise = first - ds[0]['gt']
    assert np.std(noise * 255) == pytest.approx(25, rel=0.15) and noise.min() < 0 < noise.max()
    a, b, c = ds[(1, 7)], ds[(1, 7)], ds[(1, 8)]
    np.testing.assert_array_equal(a['lq'], b['lq'])
    assert a['lq'].shape == (3, 8, 8) and not np.array_equal(a['lq'], c['lq'])


def test_denoise_clip_option(tmp_path):
    os.makedirs(tmp_path / 'white')
    write_image(str(tmp_path / 'white' / 'w.png'), np.full((12, 12, 3), 255, np.uint8))
    unclipped = DenoiseDataset(root=str(tmp_path / 'white'), sigma=50)[0]['lq']
    clipped = DenoiseDataset(root=str(tmp_path / 'white'), sigma=50, clip=True)[0]['lq']
    assert unclipped.max() > 1.0 and clipped.max() == 1.0
    np.testing.assert_array_equal(np.minimum(unclipped, 1.0), clipped)


def _edt_test_sample_noisy(folder, sigma):
    """fenglinglwb/EDT test_sample.py: sorted listdir, ('.png', '.jpg', '.tif'), seed 0 once, BGR + normal."""
    np.random.seed(seed=0)
    out = []
    for f in sorted(os.listdir(folder)):
        if os.path.splitext(f)[1] in ['.png', '.jpg', '.tif']:
            lq = cv2.imread(os.path.join(folder, f), cv2.IMREAD_COLOR).astype(np.float32)
            lq = lq + np.random.normal(loc=0.0, scale=sigma, size=lq.shape)
            out.append((os.path.splitext(f)[0], np.transpose(lq[:, :, ::-1], (2, 0, 1)) / 255.0))
    return out


def test_denoise_edt_seeding_replays_test_sample_py(tmp_path):
    _write_clean(tmp_path / 'clean', n=12)  # 1, 10, 11, 12, 2, ... in EDT's string order
    ds = DenoiseDataset(root=str(tmp_path / 'clean'), sigma=15, eval_seeding='edt')
    expected = _edt_test_sample_noisy(str(tmp_path / 'clean'), 15)
    assert [ds[k]['name'] for k in range(len(ds))] == [name for name, _ in expected]
    for k in (3, 0, 11, 5):
        np.testing.assert_array_equal(ds[k]['lq'], expected[k][1].astype(np.float32))
    with pytest.raises(ValueError, match='ONE test folder'):
        DenoiseDataset(root=[str(tmp_path / 'clean')] * 2, eval_seeding='edt')
    write_image(str(tmp_path / 'clean' / 'z.bmp'), _img(8, 8, 0))
    with pytest.raises(ValueError, match=r'skips files that are not .png/.jpg/.tif.*z.bmp'):
        DenoiseDataset(root=str(tmp_path / 'clean'), eval_seeding='edt')
    with pytest.raises(ValueError, match='eval_seeding must be one of'):
        DenoiseDataset(root=str(tmp_path / 'clean'), eval_seeding='ipt')


def test_restoration_datasets_reject_an_sr_model(tmp_path):
    _write_clean(tmp_path / 'clean')
    with pytest.raises(ValueError, match='the model is x2'):
        DenoiseDataset(root=str(tmp_path / 'clean'), image_io=ImageIO(scale=2))


def _write_rain(rain_dir, clean_dir, keys, hw=(12, 14)):
    os.makedirs(rain_dir, exist_ok=True)
    os.makedirs(clean_dir, exist_ok=True)
    for i, k in enumerate(keys):
        clean = _img(*hw, i)
        write_image(os.path.join(clean_dir, f'norain-{k}.png'), clean)
        write_image(os.path.join(rain_dir, f'rain-{k}.png'), np.maximum(clean, 200).astype(np.uint8))


def test_derain_pairs_rain_with_norain(tmp_path):
    _write_rain(tmp_path / 'Rain100L' / 'rain', tmp_path / 'Rain100L' / 'norain', ('002', '001'))
    ds = DATASETS.build({'type': 'DerainDataset', 'root': str(tmp_path / 'Rain100L'), 'crop_size': 8, 'rot90': True})
    assert [(os.path.basename(a), os.path.basename(b), n) for a, b, n in ds.pairs] == [
        ('rain-001.png', 'norain-001.png', 'norain-001'), ('rain-002.png', 'norain-002.png', 'norain-002')]
    s = ds[(0, 3)]
    np.testing.assert_array_equal(s['lq'], np.maximum(s['gt'], np.float32(200 / 255)))
    _write_rain(tmp_path / 'train', tmp_path / 'train', ('1', '2', '3'))  # RainTrainL: one folder
    one = DerainDataset(root=str(tmp_path / 'train'))
    assert one.layout.startswith('one folder') and [p[2] for p in one.pairs] == ['norain-1', 'norain-2', 'norain-3']


def test_derain_errors_name_the_files(tmp_path):
    _write_rain(tmp_path / 'r' / 'rain', tmp_path / 'r' / 'norain', ('001', '002'))
    os.remove(tmp_path / 'r' / 'norain' / 'norain-002.png')
    with pytest.raises(ValueError, match=r'without a gt \[rain-002.png\]'):
        DerainDataset(root=str(tmp_path / 'r'))
    os.makedirs(tmp_path / 'empty')
    with pytest.raises(FileNotFoundError, match=r'(?s)No deraining layout.*rain/ \+ norain/'):
        DerainDataset(root=str(tmp_path / 'empty'))
    _write_rain(tmp_path / 'one', tmp_path / 'one', ('1', '2'))
    os.remove(tmp_path / 'one' / 'rain-2.png')
    with pytest.raises(ValueError, match=r'1 without a partner \[norain-2\]'):
        DerainDataset(root=str(tmp_path / 'one'))
    with pytest.raises(ValueError, match='the model is x4'):
        DerainDataset(root=str(tmp_path / 'r'), image_io=ImageIO(scale=4))


# --- real benchmark images --------------------------------------------------------------------------------

def _needs(*parts):
    path = benchmark_data_dir(*parts)
    if path is None:
        pytest.skip(f"{'/'.join(parts)} not found: set {BENCHMARK_ENV} to the benchmark data")
    return path


@pytest.mark.parametrize('scale', [2, 3, 4])
def test_set5_edt_layout(scale):
    ds = SRPairedDataset(root=_needs('SR', 'Set5'), split='val', scale=scale)
    assert ds.layout == 'EDT test sets' and [p[2] for p in ds.pairs] == ['baby', 'bird', 'butterfly', 'head', 'woman']
    s = ds[2]
    assert s['gt'].shape[1:] == tuple(scale * n for n in s['lq'].shape[1:])


def test_rain100l_has_100_pairs():
    ds = DerainDataset(root=_needs('Derain', 'Rain100L'))
    assert len(ds) == 100 and ds.pairs[-1][2] == 'norain-100'
    s = ds[0]
    assert s['lq'].shape == s['gt'].shape and not np.array_equal(s['lq'], s['gt'])


def test_mcmaster_edt_noise_equals_test_sample_py():
    folder = _needs('Denoise', 'McMaster')
    ds = DenoiseDataset(root=folder, sigma=50, eval_seeding='edt')
    expected = _edt_test_sample_noisy(folder, 50)
    assert len(ds) == 18 == len(expected)
    for k in (2, 0, 17):
        assert ds[k]['name'] == expected[k][0]
        np.testing.assert_array_equal(ds[k]['lq'], expected[k][1].astype(np.float32))


BASE_DATASETS = sorted(glob.glob(os.path.join(ROOT, 'configs', '_base_', 'datasets', '*.yml')))
# base config -> (split, benchmark folder) for the ones that can be built from the shared images
REAL = {'set5.yml': ('val', ('SR', 'Set5')), 'div2k_sr.yml': ('val', ('SR', 'Set5')),
        'rain100l.yml': ('val', ('Derain', 'Rain100L')), 'mcmaster.yml': ('val', ('Denoise', 'McMaster'))}


@pytest.mark.parametrize('name', [os.path.basename(p) for p in BASE_DATASETS
                                  if os.path.basename(p) in REAL or not os.path.basename(p).startswith(('demo',))])
def test_base_dataset_configs_name_registered_types(name):
    cfg = load_config(os.path.join(ROOT, 'configs', '_base_', 'datasets', name))
    for split in ('train', 'val'):
        if split in cfg['data']:
            assert cfg['data'][split]['type'] in DATASETS
    if name in REAL:
        split, parts = REAL[name]
        cfg = apply_overrides(cfg, [f'data.{split}.root={_needs(*parts)!r}'])

        class Model:
            image_io = ImageIO(scale=2 if 'SR' in parts else 1)
        assert len(build_dataset(cfg, split, Model())) > 0


def test_extract_subimages_div2k_recipe_gives_aligned_pairs(tmp_path):
    """BasicSR's DIV2K recipe scaled down: HR crops 48 every 24, LR (--scale s) crops 48/s every 24/s."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('extract_subimages', os.path.join(ROOT, 'tools',
                                                                                    'extract_subimages.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    root = tmp_path / 'DIV2K'
    for s in (2, 3):
        _write_sr(root / 'DIV2K_train_HR', root / 'DIV2K_train_LR_bicubic' / f'X{s}', s, stems=('0001',),
                  hr_hw=(60, 84))
    assert tool.main(['--input', str(root / 'DIV2K_train_HR'), '--output', str(root / 'DIV2K_train_HR_sub'),
                      '--crop-size', '48', '48', '--step', '24', '24']) == 0
    for s in (2, 3):
        lr_sub = root / 'DIV2K_train_LR_bicubic' / f'X{s}_sub'
        assert tool.main(['--input', str(root / 'DIV2K_train_LR_bicubic' / f'X{s}'), '--output', str(lr_sub),
                          '--crop-size', '48', '48', '--step', '24', '24', '--scale', str(s)]) == 0
        ds = SRPairedDataset(root=str(root), sub_images=True, scale=s)
        hr = read_image(str(root / 'DIV2K_train_HR' / '0001.png'))
        lr = read_image(str(root / 'DIV2K_train_LR_bicubic' / f'X{s}' / f'0001x{s}.png'))
        # rows start at 0, 12 (flush: 60 - 48); columns at 0, 24, 36 (flush: 84 - 48)
        assert [p[2] for p in ds.pairs] == [f'0001_s{i:03d}' for i in range(1, 7)]
        for k, (top, left) in enumerate((t, x) for t in (0, 12) for x in (0, 24, 36)):
            sample = ds[k]
            gt, lq = (np.round(sample[key].transpose(1, 2, 0) * 255) for key in ('gt', 'lq'))
            np.testing.assert_array_equal(gt, hr[top:top + 48, left:left + 48])
            t, x, c = top // s, left // s, 48 // s
            np.testing.assert_array_equal(lq, lr[t:t + c, x:x + c])
    with pytest.raises(ValueError, match='multiples of --scale 5'):
        tool.main(['--input', str(root / 'DIV2K_train_HR'), '--output', str(tmp_path / 'x'), '--crop-size', '48',
                   '48', '--scale', '5'])
