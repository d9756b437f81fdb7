"""Multi-task pre-training (EDT's x2 + x3 + x4 on one body): MultiTaskDataset, MultiTaskRestorationTask on the
shared trainer, per-task evaluation with each task's protocol, the fine-tune hand-over (init_branch)."""
import json
import os

import numpy as np
import paddle
import pytest
from skimage import data as skdata

import ppuhd
from ppuhd.config import get_config
from ppuhd.data import MultiTaskDataset
from ppuhd.data.builder import build_dataset
from ppuhd.data.degradations import bicubic_downscale
from ppuhd.engine import build_task
from ppuhd.registry import TASKS
from ppuhd.utils.image_io import write_image

from conftest import ROOT

TINY = dict(num_feat=4, embed_dim=12, depths=(2,), num_heads=(2,))
CONFIG = os.path.join(ROOT, 'configs', 'edt', 'edt_b_sr_x2x3x4_imagenet200k.yml')


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    """Real photos: two HR training images; an SR benchmark folder (HR/x{s}, LR/x{s}) of one photo per scale."""
    root = tmp_path_factory.mktemp('multitask')
    train = [skdata.astronaut()[:120, :144], skdata.chelsea()[:120, :144]]
    for i, img in enumerate(train):
        write_image(str(root / 'train' / f'img{i}.png'), img)
    hr = skdata.coffee()[:72, :96]  # a multiple of 2, 3 and 4
    for s in (2, 3, 4):
        write_image(str(root / 'val' / 'HR' / f'x{s}' / 'coffee.png'), hr)
        write_image(str(root / 'val' / 'LR' / f'x{s}' / f'coffeex{s}.png'), bicubic_downscale(hr, s))
    return root


def _cfg(photos, out_dir):
    cfg = get_config(CONFIG)
    cfg['model'] = dict(cfg['model'], type='edt_t_sr_x2x3x4', **TINY)
    for task in cfg['data']['train']['tasks'].values():
        task.update(root=str(photos / 'train'), crop_size=24, max_images=None)
    for task in cfg['data']['val']['tasks'].values():
        task.update(root=str(photos / 'val'))
    cfg['data'].update(batch_size=2, num_workers=0)
    cfg['train'].update(total_iters=2, eval_interval=2, save_interval=2, log_interval=1)
    cfg['lr_scheduler'] = {'type': 'ConstantLR'}
    cfg.update(output_dir=str(out_dir), device='cpu', num_threads=1)
    return cfg


def test_dataset_yields_one_sample_per_task_in_the_model_order(photos):
    model = ppuhd.create_model('edt_t_sr_x2x3x4', **TINY)
    cfg = _cfg(photos, photos / 'unused')
    ds = build_dataset(cfg, 'train', model)
    assert isinstance(ds, MultiTaskDataset) and ds.tasks == ['sr_x2', 'sr_x3', 'sr_x4'] and len(ds) == 2
    sample = ds[(1, 7)]
    for task, s in (('sr_x2', 2), ('sr_x3', 3), ('sr_x4', 4)):
        assert sample[task]['lq'].shape == (3, 24, 24) and sample[task]['gt'].shape == (3, 24 * s, 24 * s)
    again = ds[(1, 7)]
    assert all(np.array_equal(sample[t]['lq'], again[t]['lq']) for t in ds.tasks)  # seeded: resumable
    other = ds[(1, 8)]
    assert not all(np.array_equal(sample[t]['lq'], other[t]['lq']) for t in ds.tasks)


def test_dataset_errors_name_the_tasks(photos):
    model = ppuhd.create_model('edt_t_sr_x2x3x4', **TINY)
    cfg = _cfg(photos, photos / 'unused')
    del cfg['data']['train']['tasks']['sr_x4']
    with pytest.raises(ValueError, match=r"missing \['sr_x4'\]"):
        build_dataset(cfg, 'train', model)
    single = dict(cfg, data=dict(cfg['data'], train=cfg['data']['train']['tasks']['sr_x2']))
    with pytest.raises(ValueError, match='MultiTaskDataset'):
        build_dataset(single, 'train', model)
    val = cfg['data']['val']
    val['tasks']['sr_x3'] = {'type': 'SRSyntheticDataset', 'root': str(photos / 'train')}  # 2 images, not 1
    with pytest.raises(ValueError, match='equal_lengths'):
        build_dataset(cfg, 'val', model)


def test_task_needs_a_multi_task_model():
    with pytest.raises(ValueError, match='EnhancementTask'):
        TASKS.build({'type': 'MultiTaskRestorationTask', 'losses': []}, model=ppuhd.create_model('edt_t_sr_x2', **TINY))


def test_pretrain_on_the_trainer_evaluate_per_task_and_fine_tune_one_branch(photos, tmp_path):
    paddle.seed(0)
    cfg = _cfg(photos, tmp_path / 'run')
    trainer = ppuhd.engine.train(cfg)
    assert trainer.iter == 2
    best = json.loads((tmp_path / 'run' / 'best.json').read_text())
    metrics = best['metrics']
    for s in (2, 3, 4):
        assert {f'sr_x{s}_psnr', f'sr_x{s}_ssim', f'sr_x{s}_bicubic_psnr', f'sr_x{s}_bicubic_ssim'} <= set(metrics)
    # the mean over tasks picks the best checkpoint
    assert metrics['psnr'] == pytest.approx(np.mean([metrics[f'sr_x{s}_psnr'] for s in (2, 3, 4)]))
    # each task's protocol at its own scale: MATLAB bicubic of a bicubic-made LR is far above a random network
    assert all(metrics[f'sr_x{s}_bicubic_psnr'] > 24 for s in (2, 3, 4))

    # every head and tail was trained: each task's parameters moved from their initial values
    paddle.seed(0)
    initial = ppuhd.create_model('edt_t_sr_x2x3x4', **TINY).state_dict()
    trained = paddle.load(str(tmp_path / 'run' / 'final_model.pdparams'))
    for prefix in ('head_sr_x2', 'head_sr_x3', 'head_sr_x4', 'tail_sr_x2', 'tail_sr_x4', 'body'):
        moved = [k for k in trained if k.startswith(prefix) and k in initial
                 and not np.allclose(trained[k].numpy(), initial[k].numpy())]
        assert moved, prefix

    # fine-tuning hand-over: a single-task x3 model takes the body and the x3 branch of the pre-trained file
    ft = build_task({'model': {'type': 'edt_t_sr_x3', 'init_branch': 'sr_x3', 'upsampler': 'pixelshuffle', **TINY},
                     'model_weights': str(tmp_path / 'run' / 'final_model.pdparams'),
                     'task': {'type': 'EnhancementTask', 'losses': []}})
    own = ft.model.state_dict()
    branch = [k for k in own if k.startswith(('head_sr_x3.', 'tail_sr_x3.'))]
    assert branch and all(np.array_equal(own[k].numpy(), trained[k].numpy()) for k in branch)
    body = [k for k in own if k.startswith('body.')]
    assert body and all(np.array_equal(own[k].numpy(), trained[k].numpy()) for k in body)


def test_multi_task_model_refuses_export(photos, tmp_path):
    task = build_task(_cfg(photos, tmp_path), inference=True)
    with pytest.raises(ValueError, match='init_branch'):
        task.export_layer()


def test_each_task_is_measured_with_its_own_protocol_and_scale():
    """SR x2 / x3 on Y with crop = scale, denoising on RGB without a crop (test_sample.py), in one model."""
    model = ppuhd.create_model('edt_b_sr_x2x3_dn_g15', **TINY)
    task = TASKS.build({'type': 'MultiTaskRestorationTask', 'losses': []}, model=model)
    cfg = get_config(os.path.join(ROOT, 'configs', 'edt', 'edt_b_sr_x2x3_dn_g15_imagenet200k.yml'))
    names = task.metric_names(ppuhd.engine.evaluator.metric_config(cfg['eval'], task))
    assert {'psnr', 'sr_x2_bicubic_psnr', 'sr_x3_bicubic_ssim', 'dn_g15_input_psnr'} <= set(names)
    got = {t: (c['psnr']['color'], c['psnr']['crop_border']) for t, c in task._task_metric_cfg.items()}
    assert got == {'sr_x2': ('y', 2), 'sr_x3': ('y', 3), 'dn_g15': ('rgb', 0)}
    with pytest.raises(KeyError, match='dn_g15'):
        task.metric_config(dict(cfg['eval'], protocol={'sr_x2': 'edt_sr', 'sr_x3': 'edt_sr'}))
