"""Classification data: RandAugment, transforms, Mixup/CutMix, RandomErasing, RA sampler, folder/list datasets."""
import math
import os

import numpy as np
import paddle
import pytest
from PIL import Image

from ppuhd.data import ImageFolderDataset, ListDataset, Mixup, ResumableBatchSampler, rand_augment_from_string
from ppuhd.data.cls_transforms import ClsEvalTransform, ClsTrainTransform, random_erasing, random_resized_crop_box
from ppuhd.data.mixup import cutmix_box
from ppuhd.data.randaugment import INCREASING_OPS, OPS


def _photo(h=40, w=52, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype='uint8'))


def test_randaugment_is_deterministic_under_a_seed():
    ra = rand_augment_from_string('rand-m9-mstd0.5-inc1')
    img = _photo()
    a, b = (np.asarray(ra(img, np.random.default_rng(7))) for _ in range(2))
    np.testing.assert_array_equal(a, b)
    outs = [np.asarray(ra(img, np.random.default_rng(s))) for s in range(8)]
    assert any(not np.array_equal(outs[0], o) for o in outs[1:])


def test_randaugment_parses_deit_string_with_timm_op_list():
    ra = rand_augment_from_string('rand-m9-mstd0.5-inc1')
    assert (ra.magnitude, ra.magnitude_std, ra.num_layers, ra.prob) == (9.0, 0.5, 2, 0.5)
    assert ra.ops == list(INCREASING_OPS) and len(ra.ops) == 15
    with pytest.raises(ValueError, match='unknown key'):
        rand_augment_from_string('rand-m9-foo1-inc1')
    mags = [ra.sample_magnitude(np.random.default_rng(s)) for s in range(2000)]
    assert abs(np.mean(mags) - 9.0) < 0.05 and abs(np.std(mags) - 0.5) < 0.05 and max(mags) <= 10.0


def test_randaugment_magnitude_formulas_match_timm():
    hp = rand_augment_from_string('rand-m9-mstd0.5-inc1').hparams
    rng = np.random.default_rng(0)
    # timm: rotate m/10*30 deg, shear m/10*0.3, translate_rel m/10*0.45, enhance 1 +- m/10*0.9,
    # posterize 4 - int(m/10*4), solarize 256 - int(m/10*256), solarize_add int(m/10*110)
    assert abs(OPS['Rotate'][1](9, rng, hp)) == pytest.approx(27.0)
    assert abs(OPS['ShearX'][1](5, rng, hp)) == pytest.approx(0.15)
    assert abs(OPS['TranslateXRel'][1](10, rng, hp)) == pytest.approx(0.45)
    assert abs(OPS['ColorIncreasing'][1](9, rng, hp) - 1) == pytest.approx(0.81)
    assert (OPS['PosterizeIncreasing'][1](9, rng, hp), OPS['SolarizeIncreasing'][1](9, rng, hp),
            OPS['SolarizeAdd'][1](9, rng, hp)) == (1, 26, 99)
    signs = {np.sign(OPS['Rotate'][1](9, np.random.default_rng(s), hp)) for s in range(20)}
    assert signs == {-1.0, 1.0}


def test_randaugment_ops_fill_and_translate_semantics():
    hp = rand_augment_from_string('rand-m9-mstd0.5-inc1').hparams
    img = Image.new('RGB', (20, 10), (200, 10, 30))
    shifted = np.asarray(OPS['TranslateXRel'][0](img, 0.25, hp))  # samples x + 5: the right 5 columns are filled
    assert (shifted[:, -5:] == hp['fill']).all() and (shifted[:, :14] == (200, 10, 30)).all()
    assert hp['fill'] == (124, 116, 104)  # round(255 * ImageNet mean), timm's img_mean
    black = np.asarray(OPS['PosterizeIncreasing'][0](img, 0, hp))  # magnitude 10 -> 0 bits
    assert black.max() == 0
    added = np.asarray(OPS['SolarizeAdd'][0](img, 99, hp))[0, 0]
    assert tuple(added) == (200, 109, 129)  # +99 below the threshold 128, unchanged above


def test_random_resized_crop_box_in_bounds_and_fallback():
    rng = np.random.default_rng(0)
    for _ in range(200):
        top, left, h, w = random_resized_crop_box(50, 30, rng)
        assert 0 <= top and top + h <= 30 and 0 <= left and left + w <= 50 and h > 0 and w > 0
    # an impossible scale falls back to the center crop clipped to the ratio range
    assert random_resized_crop_box(100, 10, rng, scale=(5.0, 6.0)) == (0, 43, 10, 13)


def test_train_and_eval_transforms():
    img = _photo(60, 90)
    x = ClsTrainTransform(img_size=32)(img, np.random.default_rng(3))
    assert x.shape == (3, 32, 32) and x.dtype == np.float32
    np.testing.assert_array_equal(x, ClsTrainTransform(img_size=32)(img, np.random.default_rng(3)))
    y = ClsEvalTransform(img_size=28, crop_pct=0.875)(img)  # short side 60 -> 32, then the center 28
    assert y.shape == (3, 28, 28)
    ref = img.resize((48, 32), Image.BICUBIC).crop((10, 2, 38, 30))
    expected = (np.asarray(ref, 'float32') / 255 - (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225)
    np.testing.assert_allclose(y, expected.transpose(2, 0, 1), atol=1e-6)


def test_random_erasing_pixel_mode():
    x = np.zeros((3, 40, 40), 'float32')
    erased = [random_erasing(x, np.random.default_rng(s), prob=0.25) for s in range(400)]
    hit = [e for e in erased if e.any()]
    assert 0.18 < len(hit) / 400 < 0.32
    for e in hit[:20]:
        area = (e[0] != 0).sum() / 1600
        assert 0.015 < area < 0.35 and (e[0] != e[1]).any()  # per-pixel (and per-channel) normal noise
    values = np.concatenate([e[e != 0] for e in hit])
    assert abs(values.mean()) < 0.05 and abs(values.std() - 1) < 0.05


def test_mixup_targets_sum_to_one_with_smoothing():
    mix = Mixup(num_classes=10, mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1)
    x, labels = paddle.rand([6, 3, 16, 16]), paddle.to_tensor([0, 1, 2, 3, 4, 5])
    for seed in range(6):
        mixed, target = mix(x, labels, np.random.default_rng(seed))
        t = target.numpy()
        np.testing.assert_allclose(t.sum(1), 1.0, rtol=1e-6)
        assert t.min() >= 0.01 - 1e-7  # smoothing/C on every class
        lam = t[0, 0] - 0.01 + (t[0, 5] - 0.01)  # label 0 mixed with label 5 (reversed batch)
        assert lam == pytest.approx(0.9, abs=1e-6)
    with pytest.raises(ValueError, match='even batch'):
        mix(x[:5], labels[:5], np.random.default_rng(0))


def test_cutmix_box_area_gives_the_corrected_lambda():
    mix = Mixup(num_classes=4, mixup_alpha=0.0, cutmix_alpha=1.0, label_smoothing=0.0)
    x = paddle.concat([paddle.zeros([1, 1, 20, 30]), paddle.ones([1, 1, 20, 30])])
    labels = paddle.to_tensor([0, 1])
    for seed in range(10):
        mixed, target = mix(x, labels, np.random.default_rng(seed))
        pasted = float(mixed[0].mean())  # fraction of image 0 covered by image 1's box
        assert target.numpy()[0, 0] == pytest.approx(1 - pasted, abs=1e-6)
        assert target.numpy()[0, 1] == pytest.approx(pasted, abs=1e-6)
    y0, y1, x0, x1 = cutmix_box(20, 30, 0.75, np.random.default_rng(0))
    assert y1 - y0 <= int(20 * math.sqrt(0.25)) and x1 - x0 <= int(30 * math.sqrt(0.25))


def test_repeated_augmentation_sampler():
    n, bs = 12, 3
    epoch = [ResumableBatchSampler(n, bs, 8, seed=1, world_size=2, rank=r, repeats=3) for r in (0, 1)]
    per_rank = [[i for step in range(2) for i in s.batch_at(step)] for s in epoch]  # one epoch = 12 // 6 steps
    idx = [i for rank in per_rank for i, _ in rank]
    counts = np.bincount(idx, minlength=n)
    assert sorted(set(counts)) == [0, 3]  # an epoch keeps n draws: n/3 images, each 3 times
    assert len(set(per_rank[0]) & set(per_rank[1])) == 0  # disjoint (index, aug seed) slots
    assert len({s for rank in per_rank for _, s in rank}) == 12  # every copy has its own seed
    again = ResumableBatchSampler(n, bs, 8, seed=1, world_size=2, rank=0, repeats=3)
    assert [again.batch_at(k) for k in range(8)] == [epoch[0].batch_at(k) for k in range(8)]
    resumed = list(ResumableBatchSampler(n, bs, 8, start_step=5, seed=1, world_size=2, rank=0, repeats=3))
    assert resumed == [epoch[0].batch_at(k) for k in range(5, 8)]
    one = ResumableBatchSampler(n, 6, 2, seed=1, repeats=3).batch_at(0)
    assert [i for i, _ in one][:3] == [one[0][0]] * 3  # on one rank the copies are consecutive (deit)


def _write_folder(root, classes=('cat', 'dog'), n=3):
    for c in classes:
        os.makedirs(root / 'train' / c, exist_ok=True)
        for k in range(n):
            _photo(20, 24, k).save(root / 'train' / c / f'{k}.png')


def test_image_folder_classes_samples_and_errors(tmp_path):
    _write_folder(tmp_path, ('zebra', 'ant'))
    ds = ImageFolderDataset(root=str(tmp_path), split='train', transform={'type': 'ClsEvalTransform', 'img_size': 16})
    assert ds.classes == ['ant', 'zebra'] and len(ds) == 6
    s = ds[(5, 3)]
    assert s['image'].shape == (3, 16, 16) and int(s['label']) == 1 and int(s['seed']) == 3
    with pytest.raises(FileNotFoundError, match='val'):
        ImageFolderDataset(root=str(tmp_path), split='val')
    os.makedirs(tmp_path / 'train' / 'empty')
    with pytest.raises(FileNotFoundError, match='empty.*has no image'):
        ImageFolderDataset(root=str(tmp_path), split='train')
    os.rmdir(tmp_path / 'train' / 'empty')
    (tmp_path / 'train' / 'ant' / 'bad.png').write_bytes(b'not an image')
    ds = ImageFolderDataset(root=str(tmp_path), split='train')
    with pytest.raises(OSError, match='bad.png'):
        ds[3]


def test_list_dataset_and_errors(tmp_path):
    _write_folder(tmp_path)
    lst = tmp_path / 'train.txt'
    lst.write_text('train/cat/0.png 0\ntrain/dog/1.png 4\n\n')
    ds = ListDataset(root=str(tmp_path), list_file=str(lst), transform={'type': 'ClsEvalTransform', 'img_size': 16})
    assert len(ds) == 2 and ds.num_classes == 5 and int(ds[1]['label']) == 4
    lst.write_text('train/cat/0.png 0\ntrain/cat/1.png\n')
    with pytest.raises(ValueError, match='train.txt:2'):
        ListDataset(root=str(tmp_path), list_file=str(lst))
    lst.write_text('train/cat/9.png 0\n')
    with pytest.raises(FileNotFoundError, match='train.txt:1.*9.png'):
        ListDataset(root=str(tmp_path), list_file=str(lst))
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        ListDataset(root=str(tmp_path), list_file=str(tmp_path / 'missing.txt'))
