"""PairedImageDataset layouts, pairing and errors; paired augmentation; image I/O; the demo data."""
import json
import os
import time

import cv2
import numpy as np
import pytest

from ppuhd.data import PairedImageDataset, build_demo_dataset
from ppuhd.data.demo import TEST_PHOTOS, TRAIN_PHOTOS
from ppuhd.data.transforms import round_crop_size
from ppuhd.inference import ImageIO
from ppuhd.registry import DATASETS
from ppuhd.utils.image_io import read_image, read_image_size, write_image


def _write_pair_folder(lq_dir, gt_dir, stems=('a', 'b', 'c'), size=(24, 32), exts=('png', 'jpg', 'PNG'), seed=0):
    """Random lq images and gt = 255 - lq (PNG gt, so the relation is exact), lq with mixed extensions."""
    rng = np.random.default_rng(seed)
    for i, stem in enumerate(stems):
        lq = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        path = os.path.join(lq_dir, f'{stem}.{exts[i % len(exts)]}')
        write_image(path, lq)
        lq = read_image(path)  # JPEG is lossy: build gt from what was stored
        write_image(os.path.join(gt_dir, f'{stem}.png'), 255 - lq)


LAYOUT_CASES = {
    'uhdll': ('training_set/input', 'training_set/gt', 'testing_set/input', 'testing_set/gt'),
    'lolv1': ('our485/low', 'our485/high', 'eval15/low', 'eval15/high'),
    'lolv2': ('Train/Low', 'Train/Normal', 'Test/Low', 'Test/Normal'),
    'lolv2-lowercase': ('train/low', 'train/normal', 'test/low', 'test/normal'),
    'uhdlol': ('train/low', 'train/high', 'test/low', 'test/high'),
}


@pytest.mark.parametrize('dirs', LAYOUT_CASES.values(), ids=LAYOUT_CASES.keys())
def test_layouts_pair_by_stem(tmp_path, dirs):
    _write_pair_folder(tmp_path / dirs[0], tmp_path / dirs[1], stems=('b', 'a', 'c'))
    _write_pair_folder(tmp_path / dirs[2], tmp_path / dirs[3], stems=('x', 'y'))
    train = DATASETS.build({'type': 'PairedImageDataset', 'root': str(tmp_path), 'split': 'train'})
    assert [p[2] for p in train.pairs] == ['a', 'b', 'c']
    assert all(os.path.splitext(os.path.basename(lq))[0] == os.path.splitext(os.path.basename(gt))[0] == stem
               for lq, gt, stem in train.pairs)
    assert {os.path.splitext(lq)[1] for lq, _, _ in train.pairs} == {'.png', '.jpg', '.PNG'}
    for split in ('test', 'val'):
        assert [p[2] for p in PairedImageDataset(root=str(tmp_path), split=split).pairs] == ['x', 'y']
    sample = train[0]
    assert sample['name'] == 'a' and sample['lq'].dtype == np.float32 and sample['lq'].shape == (3, 24, 32)
    np.testing.assert_allclose(sample['gt'], 1.0 - sample['lq'], atol=1e-6)


def test_two_matching_layouts_are_ambiguous(tmp_path):
    _write_pair_folder(tmp_path / 'train' / 'low', tmp_path / 'train' / 'normal', stems=('a',))
    (tmp_path / 'train' / 'high').mkdir()
    with pytest.raises(ValueError, match='Ambiguous'):
        PairedImageDataset(root=str(tmp_path))


def test_explicit_dirs_and_rgb_order(tmp_path):
    img = np.zeros((8, 8, 3), np.uint8)
    img[..., 0] = 200  # red in RGB
    for sub in ('low', 'gt'):
        write_image(str(tmp_path / sub / 'p.png'), img)
    ds = PairedImageDataset(input_dir=str(tmp_path / 'low'), gt_dir=str(tmp_path / 'gt'), root='ignored')
    assert ds.layout == 'explicit' and len(ds) == 1
    assert ds[0]['lq'][0].max() == pytest.approx(200 / 255) and ds[0]['lq'][1:].max() == 0
    assert cv2.imread(str(tmp_path / 'low' / 'p.png'))[0, 0, 2] == 200  # stored as BGR on disk


def test_missing_folder_names_path_and_layouts(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist') as err:
        PairedImageDataset(root=str(tmp_path / 'nope'))
    assert str(tmp_path / 'nope') in str(err.value)
    (tmp_path / 'training_set' / 'input').mkdir(parents=True)
    with pytest.raises(FileNotFoundError) as err:
        PairedImageDataset(root=str(tmp_path), split='train')
    message = str(err.value)
    assert str(tmp_path / 'training_set' / 'gt') in message and 'missing' in message
    assert 'our485' in message and 'Train/Low' in message and 'train/high' in message
    with pytest.raises(FileNotFoundError, match='gt_missing'):
        PairedImageDataset(input_dir=str(tmp_path / 'training_set' / 'input'), gt_dir=str(tmp_path / 'gt_missing'))


def test_empty_folder_and_bad_split(tmp_path):
    for sub in ('input', 'gt'):
        (tmp_path / 'training_set' / sub).mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match='No images'):
        PairedImageDataset(root=str(tmp_path))
    with pytest.raises(ValueError, match='split'):
        PairedImageDataset(root=str(tmp_path), split='validation')


def test_unmatched_stems_are_listed(tmp_path):
    _write_pair_folder(tmp_path / 'lq', tmp_path / 'gt', stems=('a', 'b', 'c'))
    write_image(str(tmp_path / 'lq' / 'only_lq.png'), np.zeros((4, 4, 3), np.uint8))
    write_image(str(tmp_path / 'gt' / 'only_gt.jpg'), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match='Unpaired') as err:
        PairedImageDataset(input_dir=str(tmp_path / 'lq'), gt_dir=str(tmp_path / 'gt'))
    assert 'only_lq' in str(err.value) and 'only_gt' in str(err.value) and '1 in' in str(err.value)


def test_duplicate_stem_is_an_error(tmp_path):
    _write_pair_folder(tmp_path / 'lq', tmp_path / 'gt', stems=('a',))
    write_image(str(tmp_path / 'lq' / 'a.bmp'), np.zeros((24, 32, 3), np.uint8))
    with pytest.raises(ValueError, match='ambiguous'):
        PairedImageDataset(input_dir=str(tmp_path / 'lq'), gt_dir=str(tmp_path / 'gt'))


def test_corrupt_image_fails_in_init(tmp_path):
    """Garbage bytes (no image header) are caught by the header check in __init__, before training."""
    _write_pair_folder(tmp_path / 'lq', tmp_path / 'gt', stems=('a', 'b'), exts=('png',))
    bad = tmp_path / 'lq' / 'b.png'
    bad.write_bytes(b'this is not a png at all')
    with pytest.raises(OSError, match='not PNG/JPEG/BMP/TIFF') as err:
        PairedImageDataset(input_dir=str(tmp_path / 'lq'), gt_dir=str(tmp_path / 'gt'))
    assert str(bad) in str(err.value)


def test_truncated_image_fails_at_load(tmp_path):
    """A valid header with a corrupt body passes __init__ and raises OSError naming the file when loaded."""
    _write_pair_folder(tmp_path / 'lq', tmp_path / 'gt', stems=('a',), size=(64, 64))
    path = tmp_path / 'gt' / 'a.png'
    path.write_bytes(path.read_bytes()[:40])
    ds = PairedImageDataset(input_dir=str(tmp_path / 'lq'), gt_dir=str(tmp_path / 'gt'))
    with pytest.raises(OSError, match='Cannot read image') as err:
        ds[0]
    assert str(path) in str(err.value)


@pytest.mark.parametrize('ext', ['png', 'tif'])
def test_size_mismatch_names_both_paths(tmp_path, ext):
    """Mismatched sizes are caught from the headers in __init__ (PNG, JPEG, BMP, TIFF, WebP), naming both files."""
    write_image(str(tmp_path / 'lq' / f'a.{ext}'), np.zeros((16, 20, 3), np.uint8))
    write_image(str(tmp_path / 'gt' / f'a.{ext}'), np.zeros((16, 24, 3), np.uint8))
    with pytest.raises(ValueError, match='different sizes') as err:
        PairedImageDataset(input_dir=str(tmp_path / 'lq'), gt_dir=str(tmp_path / 'gt'))[0]
    assert str(tmp_path / 'lq' / f'a.{ext}') in str(err.value) and str(tmp_path / 'gt' / f'a.{ext}') in str(err.value)


def test_crop_rounding_and_too_small_image(tmp_path):
    assert round_crop_size(100, 8) == (96, 96)
    assert round_crop_size((37, 50), 16) == (32, 48)
    assert round_crop_size(5, 8) == (8, 8)
    _write_pair_folder(tmp_path / 'lq', tmp_path / 'gt', stems=('a',), size=(40, 60), exts=('png',))
    ds = PairedImageDataset(input_dir=str(tmp_path / 'lq'), gt_dir=str(tmp_path / 'gt'), crop_size=(30, 45),
                            image_io=ImageIO(size_multiple=8))
    assert ds[0, 1]['lq'].shape == (3, 24, 40)
    big = PairedImageDataset(input_dir=str(tmp_path / 'lq'), gt_dir=str(tmp_path / 'gt'), crop_size=48)
    with pytest.raises(ValueError, match='smaller than the crop') as err:
        big[0]
    assert 'a.png' in str(err.value)


@pytest.fixture
def aug_set(tmp_path):
    _write_pair_folder(tmp_path / 'lq', tmp_path / 'gt', stems=('a', 'b'), size=(48, 64), exts=('png',))
    return PairedImageDataset(input_dir=str(tmp_path / 'lq'), gt_dir=str(tmp_path / 'gt'), crop_size=(16, 24),
                              hflip=True, vflip=True, rot90=True, repeat=3)


def test_seeded_augmentation_is_reproducible(aug_set):
    first, again = aug_set[1, 1234], aug_set[1, 1234]
    for key in ('lq', 'gt'):
        np.testing.assert_array_equal(first[key], again[key])
    others = [aug_set[1, seed]['lq'] for seed in range(5)]
    assert any(o.shape != first['lq'].shape or not np.array_equal(o, first['lq']) for o in others)
    assert len(aug_set) == 6 and aug_set[4, 7]['name'] == aug_set[0, 7]['name'] == 'a'  # index modulo pairs
    np.testing.assert_array_equal(aug_set[4, 7]['lq'], aug_set[0, 7]['lq'])


def test_augmentation_keeps_pairs_aligned(aug_set):
    shapes = set()
    for seed in range(32):
        sample = aug_set[seed % 2, seed]
        np.testing.assert_allclose(sample['gt'], 1.0 - sample['lq'], atol=1e-6)
        shapes.add(sample['lq'].shape)
        assert sample['lq'].flags['C_CONTIGUOUS']
    assert shapes == {(3, 16, 24), (3, 24, 16)}  # odd rot90 transposes a non-square crop


def test_cache_reads_each_file_once_and_gives_the_same_samples(aug_set, monkeypatch):
    import ppuhd.data.paired as paired
    cached = PairedImageDataset(input_dir=aug_set.input_dir, gt_dir=aug_set.gt_dir, crop_size=(16, 24),
                                hflip=True, vflip=True, rot90=True, repeat=3, cache=True)
    reads = []
    real = paired.read_image_native
    monkeypatch.setattr(paired, 'read_image_native', lambda path: reads.append(path) or real(path))
    for seed in range(12):
        ours, plain = cached[seed % 6, seed], aug_set[seed % 6, seed]
        for key in ('lq', 'gt'):
            np.testing.assert_array_equal(ours[key], plain[key])
    assert len(reads) == 12 * 2 + 4  # the plain set decodes every time, the cached one each of its 4 files once


def test_crop_is_a_window_of_the_image(aug_set):
    full = read_image(aug_set.pairs[0][0]).astype(np.float32) / 255
    plain = PairedImageDataset(input_dir=aug_set.input_dir, gt_dir=aug_set.gt_dir, crop_size=(16, 24))
    crop = plain[0, 99]['lq'].transpose(1, 2, 0)
    hits = [(t, l) for t in range(48 - 16 + 1) for l in range(64 - 24 + 1)
            if np.array_equal(full[t:t + 16, l:l + 24], crop)]
    assert len(hits) == 1


def test_image_io_roundtrip_and_errors(tmp_path):
    img = np.random.default_rng(0).random((10, 12, 3)).astype(np.float32)
    write_image(str(tmp_path / 'deep' / 'x.png'), img)
    back = read_image(str(tmp_path / 'deep' / 'x.png'))
    np.testing.assert_array_equal(back, np.round(img * 255).astype(np.uint8))
    assert read_image_size(str(tmp_path / 'deep' / 'x.png')) == (10, 12)
    with pytest.raises(OSError, match='Cannot read image'):
        read_image(str(tmp_path / 'absent.png'))
    with pytest.raises(OSError, match='Cannot write image'):
        write_image(str(tmp_path / 'x.unknownext'), img)


# ---------------------------------------------------------------- demo data
@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo') / 'data')
    return root, build_demo_dataset(root, seed=0)


def test_demo_build_is_deterministic_and_skipped(demo_root, tmp_path):
    root, manifest = demo_root
    mtimes = {rel: os.stat(os.path.join(root, rel)).st_mtime_ns for rel in manifest['files']}
    tic = time.time()
    again = build_demo_dataset(root, seed=0)
    assert time.time() - tic < 2.0 and again == manifest
    assert mtimes == {rel: os.stat(os.path.join(root, rel)).st_mtime_ns for rel in manifest['files']}
    other = build_demo_dataset(str(tmp_path / 'second'), seed=0)
    assert other['files'] == manifest['files']  # bit-identical rebuild
    with open(os.path.join(root, 'manifest.json')) as f:
        assert json.load(f) == manifest


def test_demo_rebuilds_incomplete_folder_and_guards_foreign_data(demo_root, tmp_path):
    root, manifest = demo_root
    out = tmp_path / 'partial'
    (out / 'training_set' / 'input').mkdir(parents=True)  # an interrupted build: no manifest
    assert build_demo_dataset(str(out), seed=0)['files'] == manifest['files']
    assert not [n for n in os.listdir(tmp_path) if n.startswith('.')]  # no temporary folders left behind
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'thesis.tex').write_text('precious')
    with pytest.raises(FileExistsError, match='thesis.tex'):
        build_demo_dataset(str(tmp_path / 'mine'))


def test_demo_split_and_darkness(demo_root):
    root, manifest = demo_root
    test_sources = {m['source'] for m in manifest['images']['test']}
    train_sources = {m['source'] for m in manifest['images']['train']}
    assert len(test_sources) >= 3 and not test_sources & train_sources
    assert test_sources == set(TEST_PHOTOS) and train_sources == set(TRAIN_PHOTOS)
    train = PairedImageDataset(root=root, split='train')
    test = PairedImageDataset(root=root, split='test')
    assert len(train) == len(manifest['images']['train']) and len(test) == len(TEST_PHOTOS)
    for sample in [test[i] for i in range(len(test))] + [train[0], train[len(train) - 1]]:
        assert sample['lq'].mean() < 0.75 * sample['gt'].mean()
    for i in range(len(test)):
        _, h, w = test[i]['lq'].shape
        assert h % 16 == 0 and w % 16 == 0 and max(h, w) <= 512


def test_sr_demo_data_is_deterministic_and_held_out(tmp_path):
    """make_demo_data.py --task sr: HR training photos, and held-out photos with MATLAB-bicubic LR per scale."""
    from ppuhd.data import SRPairedDataset, SRSyntheticDataset
    from ppuhd.data.degradations import bicubic_downscale
    from ppuhd.data.demo_sr import build_demo_sr_dataset
    from ppuhd.inference import ImageIO
    manifest = build_demo_sr_dataset(str(tmp_path / 'sr'))
    assert {i['name'] for i in manifest['images']['train']} == set(TRAIN_PHOTOS)
    assert {i['name'] for i in manifest['images']['val']} == set(TEST_PHOTOS)
    files = dict(manifest['files'])
    assert build_demo_sr_dataset(str(tmp_path / 'again'))['files'] == files  # no random draw: bit-identical
    for s in (2, 3, 4):
        val = SRPairedDataset(root=str(tmp_path / 'sr' / 'val'), split='val', image_io=ImageIO(scale=s))
        sample = val[0]
        hr = read_image(str(tmp_path / 'sr' / 'val' / 'HR' / f'x{s}' / f"{sample['name']}.png"))
        lr = bicubic_downscale(hr, s)
        np.testing.assert_array_equal((sample['lq'].transpose(1, 2, 0) * 255).round().astype(np.uint8), lr)
    train = SRSyntheticDataset(root=str(tmp_path / 'sr' / 'train' / 'HR'), crop_size=17, image_io=ImageIO(scale=3))
    assert train[0, 5]['lq'].shape == (3, 17, 17) and train[0, 5]['gt'].shape == (3, 51, 51)
