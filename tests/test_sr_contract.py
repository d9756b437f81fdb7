"""scale != 1 end to end with a toy x2 model: LR/HR data, paired crops, padding and cropping back, tiling,
training and evaluation through the tools, export, Paddle Inference and its shape ranges."""
import json
import os
import sys

import numpy as np
import paddle
import pytest
import yaml
from skimage import data as skdata

from conftest import ROOT, load_script
from helpers.toy_sr import ToySR

import ppuhd
from ppuhd.data import PairedImageDataset
from ppuhd.engine import build_task
from ppuhd.engine.export import export_model
from ppuhd.utils.image_io import read_image, write_image

sys.path.insert(0, os.path.join(ROOT, 'deploy', 'python'))
sys.path.insert(0, os.path.join(ROOT, 'tools'))
from predictor import Predictor, RunOptions  # noqa: E402


@pytest.fixture(scope='module')
def lr_hr(tmp_path_factory):
    """Real-photo HR crops (76x100; the LR 38x50 is not a multiple of 4) and LR = the mean of each 2x2 HR block."""
    root = tmp_path_factory.mktemp('lr_hr')
    photos = [skdata.astronaut(), skdata.chelsea(), skdata.coffee()]
    for split, picks in (('train', photos[:2]), ('test', photos[2:])):
        for i, photo in enumerate(picks):
            hr = photo[40:116, 60:160]
            write_image(str(root / split / 'hr' / f'img{i}.png'), hr)
            write_image(str(root / split / 'lr' / f'img{i}.png'), _block_mean(hr.astype(np.float64) / 255))
    return root


def _block_mean(img):
    h, w = img.shape[0] // 2, img.shape[1] // 2
    return img.reshape(h, 2, w, 2, -1).mean(axis=(1, 3))


def _cfg(root, out):
    return {
        'seed': 0, 'device': 'cpu', 'num_threads': 1, 'output_dir': str(out), 'model_weights': None,
        'model': {'type': 'toy_sr_x2'},
        'task': {'type': 'EnhancementTask', 'tiling': None, 'losses': [{'type': 'L1Loss', 'name': 'l1'}]},
        'data': {'batch_size': 2, 'num_workers': 0,
                 'train': {'type': 'PairedImageDataset', 'input_dir': str(root / 'train' / 'lr'),
                           'gt_dir': str(root / 'train' / 'hr'), 'crop_size': 14, 'hflip': True, 'rot90': True},
                 'val': {'type': 'PairedImageDataset', 'input_dir': str(root / 'test' / 'lr'),
                         'gt_dir': str(root / 'test' / 'hr')}},
        'optimizer': {'type': 'Adam', 'lr': 1e-3},
        'lr_scheduler': {'type': 'CosineLR', 'warmup_iters': 0},
        'train': {'total_iters': 4, 'log_interval': 2, 'eval_interval': 4, 'save_interval': 4, 'keep_last': 1,
                  'best_metric': 'psnr', 'max_nonfinite': 5},
        'eval': {'log_images': 0, 'protocol': 'sr_y', 'metrics': {'psnr': {}, 'ssim': {}}},
    }


def test_paired_crops_at_the_scale_ratio(lr_hr):
    ds = PairedImageDataset(input_dir=str(lr_hr / 'train' / 'lr'), gt_dir=str(lr_hr / 'train' / 'hr'),
                            crop_size=14, hflip=True, rot90=True, image_io=ToySR().image_io)
    for seed in range(6):
        sample = ds[seed % 2, seed]
        assert sample['lq'].shape == (3, 12, 12) and sample['gt'].shape == (3, 24, 24)  # 14 -> a multiple of 4
        # the same place, flipped and rotated alike: each LR pixel is the mean of its 2x2 HR block (8-bit rounding)
        np.testing.assert_allclose(_block_mean(sample['gt'].transpose(1, 2, 0)), sample['lq'].transpose(1, 2, 0),
                                   atol=0.51 / 255)


def test_pair_sizes_must_be_at_the_scale(lr_hr, tmp_path):
    write_image(str(tmp_path / 'lr' / 'a.png'), np.zeros((10, 10, 3), np.uint8))
    write_image(str(tmp_path / 'hr' / 'a.png'), np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match='not x2'):
        PairedImageDataset(input_dir=str(tmp_path / 'lr'), gt_dir=str(tmp_path / 'hr'), image_io=ToySR().image_io)


def _predict(task, x):
    return task.predict({'lq': paddle.to_tensor(x)})['pred'].numpy()


def test_padding_cropping_and_tiling_at_scale_2():
    paddle.seed(0)
    task = build_task({'model': {'type': 'toy_sr_x2'}, 'task': {'type': 'EnhancementTask', 'losses': []}})
    task.eval()
    x = np.random.default_rng(0).random((1, 3, 13, 19), dtype=np.float32)
    out = _predict(task, x)
    assert out.shape == (1, 3, 26, 38)
    # the caller pads (the model cannot): reflect to 16 x 20, run, crop 2x
    padded = np.pad(x, ((0, 0), (0, 0), (0, 3), (0, 1)), mode='reflect')
    np.testing.assert_allclose(out, task.model(paddle.to_tensor(padded)).numpy()[..., :26, :38], atol=1e-6)
    tiled = build_task({'model': {'type': 'toy_sr_x2'}, 'task': {
        'type': 'EnhancementTask', 'losses': [], 'tiling': {'tile': [8, 12], 'overlap': [4, 4], 'blend': 'cosine'}}})
    tiled.model.set_state_dict(task.model.state_dict())
    tiled.eval()
    np.testing.assert_allclose(_predict(tiled, x), out, atol=1e-6)  # output tiles of 16 x 24 blended back


def test_train_eval_export_deploy_at_scale_2(lr_hr, tmp_path):
    eval_tool = load_script('tools/eval.py')
    cfg = _cfg(lr_hr, tmp_path / 'run')
    trainer = ppuhd.engine.train(cfg)
    assert trainer.iter == 4 and (tmp_path / 'run' / 'best_model.pdparams').is_file()
    cfg_path = tmp_path / 'toy.yml'
    cfg_path.write_text(yaml.safe_dump(cfg))
    weights = str(tmp_path / 'run' / 'best_model.pdparams')
    assert eval_tool.main(['-c', str(cfg_path), '--weights', weights, '--json', str(tmp_path / 'e.json')]) == 0
    result = json.loads((tmp_path / 'e.json').read_text())['mean']
    # the baseline of a x2 model is MATLAB bicubic; under sr_y (Y, crop 2) on a smooth photo it is far above 20 dB
    assert set(result) == {'psnr', 'ssim', 'bicubic_psnr', 'bicubic_ssim'} and result['bicubic_psnr'] > 20

    infer_tool = load_script('tools/infer.py')
    assert infer_tool.main(['-c', str(cfg_path), '--weights', weights, '--input', str(lr_hr / 'test' / 'lr'),
                            '--output', str(tmp_path / 'sr'), '--side-by-side']) == 0
    side = read_image(str(tmp_path / 'sr' / 'img0.png'))
    assert side.shape == (76, 200, 3)  # bicubic-upscaled input | x2 result, both at the HR size of 38 x 50

    out_dir = str(tmp_path / 'export')
    infer_cfg = export_model(cfg, weights, out_dir)
    assert infer_cfg['image_io']['scale'] == 2 and infer_cfg['input']['shape'] == [None, 3, None, None]
    assert infer_cfg['dynamic_shapes']['max'] == [1, 3, 1080, 1920]  # inputs whose output is 4K
    task = build_task(dict(cfg, model_weights=weights), inference=True)
    task.eval()
    predictor = Predictor(out_dir, RunOptions(threads=1))
    for h, w in [(16, 20), (13, 19), (33, 4)]:
        img = (np.random.default_rng(h).random((h, w, 3)) * 255).astype(np.uint8)
        got = predictor.enhance(img)
        assert got.shape == (2 * h, 2 * w, 3) and predictor.output_size(h, w) == (2 * h, 2 * w)
        expected = _predict(task, (img.astype(np.float32) / 255).transpose(2, 0, 1)[None])[0].transpose(1, 2, 0)
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_service_serves_super_resolution(tmp_path):
    """Over real HTTP on 127.0.0.1: the result at the model's scale, its size in the headers, the output's
    pixels bounded."""
    pytest.importorskip('fastapi')
    httpx = pytest.importorskip('httpx')
    sys.path.insert(0, os.path.join(ROOT, 'deploy', 'serving'))
    from app import create_app
    from test_serving import _Server
    from ppuhd.utils.image_io import decode_image, encode_image
    paddle.seed(0)
    export_model({'model': {'type': 'toy_sr_x2'}, 'task': {'type': 'EnhancementTask', 'losses': []}}, None,
                 str(tmp_path / 'model'))
    server = _Server(create_app(str(tmp_path / 'model'), RunOptions(threads=1), max_pixels=40 * 40))
    try:
        img = (np.random.default_rng(0).random((13, 19, 3)) * 255).astype(np.uint8)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert client.get('/healthz').json()['scale'] == 2
            reply = client.post('/v1/enhance', content=encode_image(img), headers={'Content-Type': 'image/png'})
            assert reply.status_code == 200, reply.text
            assert (reply.headers['X-Input-Size'], reply.headers['X-Output-Size'], reply.headers['X-Scale']) == (
                '19x13', '38x26', '2')
            got = decode_image(reply.content, 'reply')
            expected = Predictor(str(tmp_path / 'model'), RunOptions(threads=1)).enhance(img)
            assert got.shape == (26, 38, 3)
            assert np.abs(got.astype(np.float32) - np.clip(expected, 0, 1) * 255).max() <= 1.0  # 8-bit rounding
            big = np.zeros((30, 30, 3), np.uint8)  # 900 input pixels are allowed, its 3600-pixel result is not
            reply = client.post('/v1/enhance', content=encode_image(big), headers={'Content-Type': 'image/png'})
            assert reply.status_code == 413 and '60x60' in reply.json()['error']
    finally:
        server.stop()
