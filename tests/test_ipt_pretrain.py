"""IPT pre-training and fine-tuning on the shared trainer: the contrastive loss against a loop transcription of
the official MindSpore port's SupConLoss, the on-the-fly multi-degradation dataset, one task per batch, the
single-task branch taken out of a pre-training state dict, per-tensor gradient clipping, the configs, and a
tiny IPT trained by ``ppuhd.engine.Trainer`` from ``configs/ipt/ipt_pretrain_imagenet.yml``."""
import os

import numpy as np
import paddle
import pytest
from PIL import Image

from conftest import ROOT
import ppuhd
from ppuhd.config import get_config
from ppuhd.data.degradations import bicubic_downscale
from ppuhd.data.restoration import MultiDegradationDataset
from ppuhd.engine.optim import _grad_clip
from ppuhd.losses import SupConLoss
from ppuhd.models.ipt import PRETRAIN_TASKS
from ppuhd.tasks.ipt_pretrain import IPTPretrainTask

TINY = {'n_feats': 4, 'patch_size': 12, 'num_heads': 2, 'num_layers': 1}


def _supcon_loop(features, temperature=0.07):
    """research/cv/IPT/src/loss.py SupConLoss (contrast_mode 'all'), one anchor at a time, float64."""
    f = features / np.linalg.norm(features, axis=2, keepdims=True)
    b, v, _ = f.shape
    flat = np.concatenate([f[:, i] for i in range(v)])  # cat(unbind(features, 1)): view-major
    losses = []
    for a in range(b * v):
        logits = flat @ flat[a] / temperature
        logits -= logits.max()
        others = [k for k in range(b * v) if k != a]
        log_denominator = np.log(np.exp(logits[others]).sum() + 1e-8)
        positives = [k for k in others if k % b == a % b]
        losses.append(-np.mean([logits[k] - log_denominator for k in positives]))
    return float(np.mean(losses))


def test_supcon_equals_the_official_formula_and_has_gradients():
    x = np.random.default_rng(0).standard_normal((3, 5, 7))
    features = paddle.to_tensor(x.astype('float32'), stop_gradient=False)
    loss = SupConLoss()(features)
    np.testing.assert_allclose(float(loss), _supcon_loop(x), rtol=1e-4)
    loss.backward()
    assert bool(paddle.isfinite(features.grad).all()) and float(features.grad.abs().sum()) > 0
    # aligned views of each sample, orthogonal samples: near the minimum; shuffled views: far above it
    aligned = np.repeat(np.eye(7)[:3, None], 5, axis=1)
    assert float(SupConLoss()(paddle.to_tensor(aligned.astype('float32')))) < _supcon_loop(x) / 2
    with pytest.raises(ValueError, match='batch >= 2'):
        SupConLoss()(paddle.rand([1, 4, 3]))


@pytest.fixture(scope='module')
def imagenet_tree(tmp_path_factory):
    """A two-class ImageNet-layout train tree (train/<wnid>/*.JPEG) of random-texture images, one too small."""
    root = tmp_path_factory.mktemp('imagenet') / 'train'
    rng = np.random.default_rng(0)
    for wnid, sizes in (('n01440764', [(70, 90), (64, 64)]), ('n01443537', [(80, 75), (30, 40)])):
        (root / wnid).mkdir(parents=True)
        for i, (h, w) in enumerate(sizes):
            img = (rng.random((h, w, 3)) * 255).astype(np.uint8)
            Image.fromarray(img).save(root / wnid / f'{wnid}_{i}.JPEG', quality=95)
    return str(root)


def test_multi_degradation_samples(imagenet_tree):
    ds = MultiDegradationDataset(root=imagenet_tree, recursive=True, skip_smaller=True, crop_size=12,
                                 tasks=PRETRAIN_TASKS, hflip=True, rot90=True)
    assert len(ds) == 3 and ds.skipped == 1  # 30 x 40 is below the x4 HR patch 48 x 48
    sample = ds[(0, 7)]
    again = ds[(0, 7)]
    for task, scale in zip(PRETRAIN_TASKS, (2, 3, 4, 1, 1, 1)):
        lq, gt = sample[f'lq_{task}'], sample[f'gt_{task}']
        assert lq.shape == (3, 12, 12) and gt.shape == (3, 12 * scale, 12 * scale) and lq.dtype == np.float32
        np.testing.assert_array_equal(lq, again[f'lq_{task}'])  # a pure function of (index, seed)
    assert int(sample['seed']) == 7
    # x3 LR: within a level of the MATLAB-bicubic x3 downscale of its own HR patch (which lacks the
    # neighbouring pixels the patch's exact window uses at its border, so compare inside)
    gt3 = np.round(sample['gt_sr_x3'].transpose(1, 2, 0) * 255).astype(np.uint8)
    lr3 = bicubic_downscale(gt3, 3).astype(np.float64) / 255
    assert np.abs(lr3[2:-2, 2:-2] - sample['lq_sr_x3'].transpose(1, 2, 0)[2:-2, 2:-2]).max() <= 1.5 / 255
    noise = (sample['lq_denoise_50'] - sample['gt_denoise_50']) * 255
    assert 35 < noise.std() < 55 and sample['lq_denoise_50'].min() >= 0 and sample['lq_denoise_50'].max() <= 1
    rain = sample['lq_derain'] - sample['gt_derain']
    assert rain.min() >= -1e-6 and (rain > 1 / 255).mean() > 0.01  # streaks only add light
    assert not np.array_equal(ds[(0, 8)]['lq_denoise_30'], sample['lq_denoise_30'])


def test_multi_degradation_errors(imagenet_tree):
    with pytest.raises(ValueError, match="task 'denoise'.*denoise_<sigma>"):
        MultiDegradationDataset(root=imagenet_tree, recursive=True, tasks=('denoise',))
    io = ppuhd.create_model('ipt_sr_x2', **TINY).image_io
    with pytest.raises(ValueError, match='crop_size 48: the model takes 12 x 12.*crop_size: 12'):
        MultiDegradationDataset(root=imagenet_tree, recursive=True, tasks=('sr_x2',), image_io=io)
    with pytest.raises(ValueError, match='smaller than the x4 HR patch'):
        MultiDegradationDataset(root=imagenet_tree, recursive=True, tasks=('sr_x4',), crop_size=12)[(3, 0)]


def _batch(ds, indices, seed):
    samples = [ds[(i, seed + k)] for k, i in enumerate(indices)]
    return {k: paddle.to_tensor(np.stack([s[k] for s in samples])) for k in samples[0] if k != 'name'}


def test_one_task_per_batch_and_only_its_branch_learns(imagenet_tree):
    paddle.seed(0)
    model = ppuhd.create_model('ipt_pretrain', **TINY)
    task = IPTPretrainTask(model)
    ds = MultiDegradationDataset(root=imagenet_tree, recursive=True, skip_smaller=True, crop_size=12)
    chosen = {task.batch_task(_batch(ds, [0, 1], seed)) for seed in range(12)}
    assert chosen == set(PRETRAIN_TASKS)  # seed % 6 over 12 consecutive seeds
    batch = _batch(ds, [0, 2], 9)  # seed 9 -> PRETRAIN_TASKS[3]
    assert task.batch_task(batch) == 'derain'
    task.train()
    out = task(batch)
    np.testing.assert_allclose(float(out['loss']), float(out['loss_l1']) + 0.1 * float(out['loss_con']), rtol=1e-6)
    out['loss'].backward()
    derain = PRETRAIN_TASKS.index('derain')
    for i in range(len(PRETRAIN_TASKS)):
        got = model.head[i][0].weight.grad is not None and float(model.head[i][0].weight.grad.abs().sum()) > 0
        assert got == (i == derain)
    assert float(model.body.query_embed.weight.grad[derain].abs().sum()) > 0
    assert float(model.body.query_embed.weight.grad[0].abs().sum()) == 0
    with pytest.raises(KeyError, match=r"tasks \['sr_x8'\] that the model has no head for"):
        task.batch_task({'lq_sr_x8': None, 'seed': [0]})


def test_fine_tune_batches_and_plain_l1():
    paddle.seed(0)
    task = IPTPretrainTask(ppuhd.create_model('ipt_sr_x2', **TINY), contrastive_weight=0.0)
    task.train()
    lq, gt = paddle.rand([2, 3, 12, 12]), paddle.rand([2, 3, 24, 24])
    out = task({'lq': lq, 'gt': gt})
    assert set(out) == {'loss', 'loss_l1'}
    with paddle.no_grad():
        expected = float((task.model(lq) - gt).abs().mean()) * 255
    np.testing.assert_allclose(float(out['loss']), expected, rtol=1e-5)
    with pytest.raises(ValueError, match='fixed objective'):
        IPTPretrainTask(task.model, losses=[{'type': 'L1Loss'}])


def test_init_task_takes_the_branch_out_of_a_pretraining_state(tmp_path):
    paddle.seed(0)
    pre = ppuhd.create_model('ipt_pretrain', **TINY)
    path = str(tmp_path / 'pre.pdparams')
    paddle.save(pre.state_dict(), path)
    cfg = {'model': {'type': 'ipt_sr_x3', 'init_task': 'sr_x3', **TINY}, 'model_weights': path}
    from ppuhd.tasks.builder import build_model
    model = build_model(cfg)
    np.testing.assert_array_equal(model.tail[0][0][0].weight.numpy(), pre.tail[1][0][0].weight.numpy())
    np.testing.assert_array_equal(model.body.query_embed.weight.numpy(), pre.body.query_embed.weight.numpy()[1:2])
    x = paddle.rand([1, 3, 12, 12])
    with paddle.no_grad():
        np.testing.assert_allclose(model.eval()(x).numpy(), pre.eval()(x, task='sr_x3').numpy(), atol=1e-6)
    single = str(tmp_path / 'single.pdparams')  # the fine-tuned result, loaded with the fine-tuning config
    paddle.save(model.state_dict(), single)
    again = build_model(dict(cfg, model_weights=single))
    np.testing.assert_array_equal(again.tail[0][0][0].weight.numpy(), model.tail[0][0][0].weight.numpy())
    three = {k: v for k, v in pre.state_dict().items()}
    three['body.query_embed.weight'] = three['body.query_embed.weight'][:3]
    with pytest.raises(ValueError, match='6 task embeddings\\); this one has 3'):
        model.adapt_state_dict(three)
    with pytest.raises(ValueError, match="init_task 'sr_x2'"):
        ppuhd.create_model('ipt_sr_x3', init_task='sr_x2', **TINY)


def test_per_tensor_gradient_clipping():
    assert isinstance(_grad_clip({'max_norm': 1.0, 'per_tensor': True}), paddle.nn.ClipGradByNorm)
    assert isinstance(_grad_clip(1.0), paddle.nn.ClipGradByGlobalNorm)
    with pytest.raises(KeyError, match='max_norm'):
        _grad_clip({'norm': 1.0})
    layer = paddle.nn.Linear(4, 4)
    opt = paddle.optimizer.SGD(1.0, parameters=layer.parameters(), grad_clip=_grad_clip(
        {'max_norm': 1.0, 'per_tensor': True}))
    before = [p.numpy().copy() for p in layer.parameters()]
    (layer(paddle.ones([2, 4])) * 1000).sum().backward()
    opt.step()
    steps = [np.linalg.norm(b - p.numpy()) for b, p in zip(before, layer.parameters())]
    np.testing.assert_allclose(steps, 1.0, rtol=1e-5)  # each tensor's update clipped to norm 1 on its own


@pytest.mark.parametrize('name', ['ipt_pretrain_imagenet', 'ipt_sr_x2_ft', 'ipt_sr_x3_ft', 'ipt_sr_x4_ft',
                                  'ipt_denoise_30_ft', 'ipt_denoise_50_ft', 'ipt_derain_ft', 'ipt_tiny_pretrain_demo',
                                  'ipt_tiny_sr_x2_demo'])
def test_configs_build(name):
    from ppuhd.registry import DATASETS, MODELS, TASKS
    cfg = get_config(os.path.join(ROOT, 'configs', 'ipt', f'{name}.yml'))
    assert cfg['model']['type'] in MODELS and cfg['task']['type'] == 'IPTPretrainTask' in TASKS
    assert cfg['data']['train']['type'] in DATASETS
    assert cfg['train']['grad_clip'] == {'max_norm': 1.0, 'per_tensor': True}
    assert cfg['optimizer']['type'] == 'Adam'
    demo = 'demo' in name
    assert cfg['eval']['protocol'].startswith('ipt_') and cfg['data']['train'].get('crop_size') == (24 if demo else 48)
    if demo:
        ppuhd.create_model(cfg['model']['type'], **{k: v for k, v in cfg['model'].items() if k != 'type'})
        return
    assert cfg['optimizer']['lr'] == (5e-5 if 'pretrain' in name else 2e-5)
    if name.endswith('_ft'):
        assert cfg['model']['init_task'] in PRETRAIN_TASKS
        ppuhd.create_model(cfg['model']['type'], init_task=cfg['model']['init_task'], **TINY)


def test_tiny_pretraining_on_the_shared_trainer(imagenet_tree, tmp_path):
    from ppuhd.engine.trainer import Trainer
    cfg = get_config(os.path.join(ROOT, 'configs', 'ipt', 'ipt_pretrain_imagenet.yml'), [
        f'output_dir={str(tmp_path / "run")!r}', f'data.train.root={imagenet_tree!r}', 'data.train.crop_size=12',
        'data.batch_size=2', 'data.num_workers=0', 'data.val=None', 'train.total_iters=4', 'train.eval_interval=None',
        'train.save_interval=4', 'train.log_interval=1', 'device="cpu"', 'num_threads=1'])
    cfg['model'].update(TINY)
    trainer = Trainer(cfg)
    before = {k: v.numpy().copy() for k, v in trainer.task.model.state_dict().items()}
    trainer.train()
    after = trainer.task.model.state_dict()
    moved = [k for k in before if not np.array_equal(before[k], after[k].numpy())]
    assert any(k.startswith('body.encoder') for k in moved) and 'sub_mean.weight' not in moved
    log = open(tmp_path / 'run' / 'train.log').read()
    assert 'loss_con' in log and 'loss_l1' in log
    assert os.path.isfile(tmp_path / 'run' / 'config.yml')
