"""The two `make demo-sr` configs run on the built-in SR demo data (shrunk to a few iterations): they resolve,
train on the training photos, evaluate beside bicubic with their protocol, and `tools/infer.py` upscales."""
import json
import os

import numpy as np
import pytest
import yaml

import ppuhd
import ppuhd.engine
from ppuhd.config import get_config
from ppuhd.data.degradations import bicubic_downscale
from ppuhd.data.demo_sr import build_demo_sr_dataset
from ppuhd.utils.image_io import read_image, write_image

from conftest import ROOT, load_script

DEMOS = {'espcn_x3_demo': ('configs/espcn/espcn_x3_demo.yml', 3),
         'edt_t_sr_x2_demo': ('configs/edt/edt_t_sr_x2_demo.yml', 2)}


@pytest.fixture(scope='module')
def demo_sr(tmp_path_factory):
    """The built-in SR demo data, plus a one-image validation folder per scale (a 24x24-LR crop of a held-out
    photo: evaluating EDT on the whole held-out photos takes minutes on 2 cores)."""
    root = tmp_path_factory.mktemp('demo_sr')
    build_demo_sr_dataset(str(root / 'demo_sr'))
    hr_full = read_image(str(root / 'demo_sr' / 'val' / 'HR' / 'x2' / 'coffee.png'))
    for s in (2, 3):
        hr = hr_full[:24 * s, :24 * s]
        write_image(str(root / 'val' / 'HR' / f'x{s}' / 'coffee.png'), hr)
        write_image(str(root / 'val' / 'LR' / f'x{s}' / f'coffeex{s}.png'), bicubic_downscale(hr, s))
    return root


@pytest.mark.parametrize('name', sorted(DEMOS))
def test_demo_config_trains_evaluates_and_upscales(name, demo_sr, tmp_path):
    path, scale = DEMOS[name]
    out = tmp_path / name
    overrides = [f"data.train.root={str(demo_sr / 'demo_sr' / 'train' / 'HR')!r}",
                 f"data.val.root={str(demo_sr / 'val')!r}", f'output_dir={str(out)!r}', 'train.total_iters=2',
                 'train.eval_interval=2', 'train.save_interval=2', 'train.log_interval=1', 'data.batch_size=2',
                 'lr_scheduler.warmup_iters=1', 'num_threads=1', 'device="cpu"']
    cfg = get_config(os.path.join(ROOT, path), overrides)
    full = get_config(os.path.join(ROOT, path))
    assert (full['data']['train']['root'], full['data']['val']['root']) == ('data/demo_sr/train/HR', 'data/demo_sr/val')
    assert ppuhd.create_model(full['model']['type']).image_io.scale == scale
    trainer = ppuhd.engine.train(cfg)
    assert trainer.iter == 2
    metrics = json.loads((out / 'best.json').read_text())['metrics']
    assert set(metrics) == {'psnr', 'ssim', 'bicubic_psnr', 'bicubic_ssim'}
    assert metrics['bicubic_psnr'] > 25  # MATLAB bicubic of a MATLAB-bicubic LR of a real photo, on Y

    infer = load_script('tools/infer.py')
    cfg_file = tmp_path / 'cfg.yml'
    cfg_file.write_text(yaml.safe_dump(cfg))
    assert infer.main(['-c', str(cfg_file), '--weights', str(out / 'best_model.pdparams'),
                       '--input', str(demo_sr / 'val' / 'LR' / f'x{scale}'), '--output', str(tmp_path / 'up')]) == 0
    result = read_image(str(tmp_path / 'up' / f'coffeex{scale}.png'))
    assert result.shape == (24 * scale, 24 * scale, 3) and np.ptp(result) > 0
