"""timm / deit (PyTorch) vs the Paddle ViT, DeiT and RegNetY with identical random weights.

Runs only with torch installed and ``PPUHD_TIMM_SRC`` naming a folder that holds the ``timm``
package, e.g. ``pip install --no-deps --target /opt/timm timm==1.0.31`` (or 0.3.2, the version
deit pins); ``PPUHD_DEIT_SRC`` may name a folder with deit's ``models.py`` to also check deit's
own distilled model. timm runs in a subprocess (``tests/helpers/timm_reference.py``) so its
torchvision stand-in never reaches this process:

    PPUHD_TIMM_SRC=/opt/timm PPUHD_DEIT_SRC=/opt/deit python -m pytest tests/test_official_parity_vit.py -s

Every weight is perturbed (LayerNorm/BN scales and biases, running stats, tokens) so mix-ups
cannot pass. Full-size models go through ``tools/convert_weights.py`` (``{'model': sd}``,
strict); small-image variants use the same converter against the small model's shapes.
"""
import json
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

import ppuhd
from conftest import ROOT, official_checkout
from ppuhd.engine import load_model_weights
from ppuhd.models.convert import CONVERTERS, check_and_build, load_checkpoint

torch = pytest.importorskip('torch')
TIMM_SRC = official_checkout('PPUHD_TIMM_SRC', 'timm/', 'a folder holding the timm package')
DEIT_SRC = os.environ.get('PPUHD_DEIT_SRC', '')

TOLERANCE = 1e-4
HELPER = os.path.join(ROOT, 'tests', 'helpers', 'timm_reference.py')


def _reference(out, arch='', kwargs=None, size=None, deit=False, extra=(), batch=2):
    cmd = [sys.executable, HELPER, '--timm-src', TIMM_SRC, '--out', str(out), '--arch', arch,
           '--kwargs', json.dumps(kwargs or {}), '--batch', str(batch), *extra]
    cmd += ['--size', *map(str, size)] if size else []
    cmd += ['--deit-src', DEIT_SRC] if deit else []
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(np.load(os.path.join(out, 'ref.npz')))


def _rel_l2(ours, ref):
    return float(np.linalg.norm(np.asarray(ours) - ref) / np.linalg.norm(ref))


def _load_small(arch, kwargs, pth):
    """Convert ``pth`` with the arch's converter, strictly against the small model's shapes."""
    model = ppuhd.create_model(arch, **kwargs)
    converted, _ = CONVERTERS[arch](load_checkpoint(str(pth)))
    model.set_state_dict(check_and_build(converted, {k: tuple(v.shape) for k, v in model.state_dict().items()}))
    return model


def _load_full(arch, pth, dst, **kwargs):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'convert_weights.py'), '--arch', arch,
                           '--src', str(pth), '--dst', str(dst)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    print(proc.stdout.strip())
    model = ppuhd.create_model(arch, **kwargs)
    load_model_weights(model, str(dst))
    return model


def _compare(label, model, ref):
    x = paddle.to_tensor(ref['x'])
    model.eval()
    with paddle.no_grad():
        outputs = {'logits': model(x), 'features': model.forward_features(x)}
        if 'train_cls' in ref:
            outputs['features'] = outputs['features'][:, :2]
            model.train()
            model.set_distilled_training(True)
            outputs['train_cls'], outputs['train_dist'] = model(x)
    for name, ours in outputs.items():
        error = _rel_l2(ours.numpy(), ref[name])
        print(f'{label} {name}: rel L2 {error:.2e}')
        assert error < TOLERANCE, (label, name, error)



SMALL = [
    ('vit_tiny_patch16_224', dict(img_size=64, num_classes=10), None),
    ('vit_small_patch16_384', dict(img_size=48, num_classes=7), (48, 48)),
    ('vit_base_patch32_384', dict(img_size=96, num_classes=5), None),
    ('deit_small_patch16_224', dict(img_size=64, num_classes=10), None),
    ('deit_tiny_distilled_patch16_224', dict(img_size=64, num_classes=10), None),
    ('regnety_002', dict(num_classes=10), (64, 64)),
    ('regnety_004', dict(num_classes=10), (64, 80)),
]


@pytest.mark.parametrize('arch,kwargs,size', SMALL, ids=[c[0] for c in SMALL])
def test_small_variants_match(tmp_path, arch, kwargs, size):
    ref = _reference(tmp_path, arch, kwargs, size)
    if 'train_cls' in ref:  # timm's forward_features keeps every token; compare the two prefix tokens
        ref['features'] = ref['features'][:, :2]
    _compare(arch, _load_small(arch, kwargs, tmp_path / 'weights.pth'), ref)


def test_deit_official_distilled_matches(tmp_path):
    if not os.path.isfile(os.path.join(DEIT_SRC, 'models.py')):
        pytest.skip("set PPUHD_DEIT_SRC to a folder with deit's models.py")
    kwargs = dict(img_size=64, num_classes=10)
    ref = _reference(tmp_path, 'deit_tiny_distilled_patch16_224', kwargs, deit=True)
    _compare('deit models.py distilled', _load_small('deit_tiny_distilled_patch16_224', kwargs,
                                                     tmp_path / 'weights.pth'), ref)


# one full-size model per family by default; PPUHD_PARITY_ARCHS=a,b,... adds more (e.g. the base/large ones)
FULL = ['deit_tiny_distilled_patch16_224', 'vit_tiny_patch16_384', 'regnety_160']
FULL += [a for a in os.environ.get('PPUHD_PARITY_ARCHS', '').split(',') if a and a not in FULL]


@pytest.mark.parametrize('arch', FULL)
def test_full_size_through_cli(tmp_path, arch):
    ref = _reference(tmp_path, arch, batch=1)
    if 'train_cls' in ref:
        ref['features'] = ref['features'][:, :2]
    model = _load_full(arch, tmp_path / 'weights.pth', tmp_path / f'{arch}.pdparams')
    official = sum(int(v.numel()) for k, v in torch.load(tmp_path / 'weights.pth')['model'].items()
                   if not k.endswith(('running_mean', 'running_var', 'num_batches_tracked')))
    ours = sum(int(p.size) for p in model.parameters() if not p.stop_gradient)
    print(f'{arch}: {ours:,} parameters (official {official:,})')
    assert ours == official
    _compare(arch, model, ref)


@pytest.mark.parametrize('grids', [(14, 14, 24, 24), (14, 14, 7, 10), (4, 6, 9, 5)], ids=str)
@pytest.mark.parametrize('prefix', [1, 2])
def test_resample_pos_embed_matches_timm(tmp_path, grids, prefix):
    ref = _reference(tmp_path, extra=['--resample', *map(str, grids), '--prefix', str(prefix)])
    pos = paddle.to_tensor(ref['pos_embed'])
    for antialias in (False, True):
        ours = ppuhd.models.layers.resample_pos_embed(pos, grids[2:], prefix, antialias, old_grid=grids[:2])
        error = _rel_l2(ours.numpy(), ref[f'antialias_{antialias}'])
        print(f'resample {grids[:2]}->{grids[2:]} prefix {prefix} antialias {antialias}: rel L2 {error:.2e}')
        assert error < TOLERANCE


def test_checkpoint_224_into_384_matches_timm(tmp_path):
    """A 224 checkpoint loaded into a 384 model: ours (antialias on) vs timm's checkpoint_filter_fn."""
    src, dst = tmp_path / 'src', tmp_path / 'dst'
    _reference(src, 'deit_tiny_patch16_224')
    ref = _reference(dst, 'deit_tiny_patch16_224', dict(img_size=384), extra=['--finetune-from', str(src)],
                     size=(384, 384))
    model = _load_small('deit_tiny_patch16_224', dict(img_size=224), src / 'weights.pth')
    paddle.save(model.state_dict(), str(tmp_path / 'deit224.pdparams'))
    big = ppuhd.create_model('deit_tiny_patch16_224', img_size=384, pos_embed_antialias=True)
    load_model_weights(big, str(tmp_path / 'deit224.pdparams'))
    _compare('224 checkpoint -> 384 model', big, ref)


def test_dynamic_input_size_matches_timm(tmp_path):
    """Another input size at run time: timm's dynamic_img_size (anti-aliased resampling)."""
    kwargs = dict(img_size=64, num_classes=10)
    ref = _reference(tmp_path, 'vit_tiny_patch16_224', dict(kwargs, dynamic_img_size=True), size=(96, 80))
    model = _load_small('vit_tiny_patch16_224', dict(kwargs, pos_embed_antialias=True), tmp_path / 'weights.pth')
    _compare('vit 64 -> 96x80 input', model, ref)
