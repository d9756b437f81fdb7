"""DeiT/ViT recipe configs resolve to deit's recipe; lr scaling, the per-epoch cosine, weight-decay groups."""
import glob
import math
import os

import pytest

import ppuhd
from ppuhd.config import load_config
from ppuhd.engine.optim import EpochCosineLR, build_lr_scheduler, param_groups, scaled_lr
from ppuhd.registry import DATASETS, MODELS, TASKS
from ppuhd.tasks.distillation import PADDLE_VISION_TEACHERS

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'configs', 'deit', '*.yml')) +
                 glob.glob(os.path.join(ROOT, 'configs', 'vit', '*.yml')))


@pytest.mark.parametrize('path', CONFIGS, ids=os.path.basename)
def test_config_names_registered_components(path):
    cfg = load_config(path)
    assert cfg['model']['type'] in MODELS and cfg['task']['type'] in TASKS
    assert cfg['data']['train']['type'] in DATASETS and cfg['train']['best_metric'] == 'top1'
    teacher = cfg['task'].get('teacher')
    if teacher:
        assert teacher['type'] in MODELS or teacher['type'] in PADDLE_VISION_TEACHERS
        assert cfg['task']['teacher_weights']


@pytest.mark.parametrize('name', ['deit_tiny_patch16_224', 'deit_small_distilled_patch16_224_soft',
                                  'deit_base_distilled_patch16_224_hard'])
def test_imagenet_recipe_is_deits(name):
    cfg = load_config(os.path.join(ROOT, 'configs', 'deit', f'{name}.yml'))
    opt, sched, data = cfg['optimizer'], cfg['lr_scheduler'], cfg['data']
    assert (opt['type'], opt['lr'], opt['lr_scale_batch'], opt['weight_decay'], opt['epsilon']) == \
        ('AdamW', 5e-4, 512, 0.05, 1e-8)
    assert (sched['type'], sched['warmup_epochs'], sched['warmup_start_lr'], sched['eta_min']) == \
        ('EpochCosineLR', 5, 1e-6, 1e-5)
    assert cfg['train']['epochs'] == 300 and cfg['model']['drop_path_rate'] == 0.1
    assert data['repeated_aug'] == 3 and data['batch_size'] * 8 == 1024
    t = data['train']['transform']
    assert (t['auto_augment'], t['re_prob'], t['interpolation'], t['scale']) == \
        ('rand-m9-mstd0.5-inc1', 0.25, 'bicubic', [0.08, 1.0])
    assert data['val']['transform']['crop_pct'] == 0.875
    assert cfg['task']['mixup'] == {'mixup_alpha': 0.8, 'cutmix_alpha': 1.0, 'prob': 1.0, 'switch_prob': 0.5}
    if 'distilled' in name:
        assert cfg['task']['teacher']['type'] == 'regnety_160' and cfg['task']['alpha'] == 0.5


def test_lr_scaled_by_global_batch():
    assert scaled_lr({'lr': 5e-4, 'lr_scale_batch': 512}, 1024) == pytest.approx(1e-3)
    assert scaled_lr({'lr': 5e-4}, 1024) == 5e-4


def test_epoch_cosine_matches_timm_per_epoch_formula():
    sched = build_lr_scheduler({'type': 'EpochCosineLR', 'warmup_epochs': 5, 'warmup_start_lr': 1e-6,
                                'eta_min': 1e-5}, 1e-3, total_iters=300 * 10, iters_per_epoch=10)
    assert isinstance(sched, EpochCosineLR)
    lrs = []
    for _ in range(3000):
        lrs.append(sched.get_lr())
        sched.step()

    def timm(e):  # timm CosineLRScheduler(t_initial=300, warmup_t=5, warmup_lr_init=1e-6, lr_min=1e-5)
        return 1e-6 + e * (1e-3 - 1e-6) / 5 if e < 5 else 1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + math.cos(math.pi * e / 300))
    for it in (0, 9, 10, 49, 50, 51, 1234, 2999):
        assert lrs[it] == pytest.approx(timm(it // 10), rel=1e-12)


def test_no_weight_decay_on_1d_params_and_tokens():
    model = ppuhd.create_model('deit_tiny_distilled_patch16_224', num_classes=3, img_size=32, depth=1)
    decay, no_decay = param_groups(model, 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    no_decay_names = {names[id(p)] for p in no_decay['params']}
    assert {'pos_embed', 'cls_token', 'dist_token'} <= no_decay_names
    assert all(p.ndim >= 2 for p in decay['params']) and no_decay['weight_decay'] == 0.0
    assert all(names[id(p)] not in ('pos_embed', 'cls_token', 'dist_token') for p in decay['params'])
