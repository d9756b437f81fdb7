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


def paddle_load(path):
    import paddle
    return {k: v.numpy() for k, v in paddle.load(str(path)).items()}


def _makefile_overrides(name):
    """The -o overrides a Makefile variable passes (IPT_SCRATCH), as the shell hands them to tools/train.py."""
    import shlex
    with open(os.path.join(ROOT, 'Makefile'), encoding='utf-8') as f:
        line = next(ln for ln in f if ln.startswith(f'{name} :='))
    tokens = shlex.split(line.split(':=', 1)[1])
    return [tokens[i + 1] for i, tok in enumerate(tokens) if tok == '-o']


def test_ipt_demo_pretrains_fine_tunes_its_branch_and_trains_from_scratch(demo_sr, tmp_path):
    """`make demo-ipt`'s three runs (shrunk to 2 iterations each): the multi-task pre-training, the x2 fine-tuning
    that starts from the pre-trained body and x2 branch, and the same x2 config from scratch (the Makefile's
    overrides), each evaluated beside bicubic with IPT's protocol."""
    from ppuhd.engine.trainer import Trainer
    shrink = [f"data.train.root={str(demo_sr / 'demo_sr' / 'train' / 'HR')!r}", f"data.val.root={str(demo_sr / 'val')!r}",
              'train.total_iters=2', 'train.eval_interval=2', 'train.save_interval=2', 'train.log_interval=1',
              'data.batch_size=2', 'lr_scheduler.warmup_iters=1', 'num_threads=1', 'device="cpu"']
    pre = tmp_path / 'pretrain'
    ppuhd.engine.train(get_config(os.path.join(ROOT, 'configs/ipt/ipt_tiny_pretrain_demo.yml'),
                                  shrink + [f'output_dir={str(pre)!r}']))
    pretrained = paddle_load(pre / 'best_model.pdparams')
    ft_cfg = 'configs/ipt/ipt_tiny_sr_x2_demo.yml'
    assert get_config(os.path.join(ROOT, ft_cfg))['model_weights'] == 'output/ipt_tiny_pretrain_demo/best_model.pdparams'
    runs = {'ft': [f'model_weights={str(pre / "best_model.pdparams")!r}', f'output_dir={str(tmp_path / "ft")!r}'],
            'scratch': _makefile_overrides('IPT_SCRATCH') + [f'output_dir={str(tmp_path / "scratch")!r}']}
    assert runs['scratch'][:2] == ['model_weights=None', 'model.init_task=None']
    starts = {}
    for name, extra in runs.items():
        trainer = Trainer(get_config(os.path.join(ROOT, ft_cfg), shrink + extra))
        starts[name] = {k: v.numpy().copy() for k, v in trainer.task.model.named_parameters()}  # not buffers
        trainer.train()
        metrics = json.loads((tmp_path / name / 'best.json').read_text())['metrics']
        assert {'psnr', 'bicubic_psnr'} <= set(metrics) and metrics['bicubic_psnr'] > 25
    from ppuhd.models.ipt import PRETRAIN_TASKS
    x2 = PRETRAIN_TASKS.index('sr_x2')
    query = 'body.query_embed.weight'  # one row per task: the fine-tuned model keeps the x2 row
    body = [k for k in starts['ft'] if k.startswith('body.') and k != query]
    assert body and all(np.array_equal(starts['ft'][k], pretrained[k]) for k in body)
    assert np.array_equal(starts['ft'][query], pretrained[query][x2:x2 + 1])
    branch = [k for k in starts['ft'] if k.startswith(('head.', 'tail.'))]
    assert branch and all(np.array_equal(starts['ft'][k], pretrained[k.replace('.0.', f'.{x2}.', 1)]) for k in branch)
    assert not any(np.array_equal(starts['scratch'][k], pretrained[k]) for k in body)
