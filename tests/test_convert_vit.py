"""ViT/DeiT/RegNetY weight conversion on synthetic timm-format state dicts (no torch needed;
a real ``torch.save`` round trip runs when torch is importable)."""
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

import ppuhd
from conftest import ROOT
from ppuhd.models.convert import CONVERTERS, check_and_build, load_checkpoint

TINY = dict(img_size=32, num_classes=5, depth=2)
BN_NAMES = {'_mean': 'running_mean', '_variance': 'running_var'}


def _random_paddle_state(model, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(v.shape).astype('float32') for k, v in model.state_dict().items()}


def _to_timm(paddle_state):
    """timm layout: Linear weights [out, in], BN running_mean/var, num_batches_tracked."""
    timm = {}
    for key, value in paddle_state.items():
        prefix, _, leaf = key.rpartition('.')
        if leaf in BN_NAMES:
            timm[f'{prefix}.{BN_NAMES[leaf]}'] = value
            if leaf == '_mean':
                timm[f'{prefix}.num_batches_tracked'] = np.array(7, dtype='int64')
        else:
            timm[key] = value.T.copy() if value.ndim == 2 else value
    return timm


def _convert_against(arch, model, state):
    converted, dropped = CONVERTERS[arch](state)
    return check_and_build(converted, {k: tuple(v.shape) for k, v in model.state_dict().items()}), dropped


@pytest.mark.parametrize('arch', ['vit_small_patch16_384', 'deit_tiny_distilled_patch16_224'])
def test_timm_layout_is_transposed_exactly(arch):
    model = ppuhd.create_model(arch, **TINY)
    expected = _random_paddle_state(model)
    timm = _to_timm(expected)
    assert timm['blocks.0.attn.qkv.weight'].shape == (3 * model.embed_dim, model.embed_dim)
    converted, dropped = _convert_against(arch, model, timm)
    assert dropped == {} and all(np.array_equal(converted[k], expected[k]) for k in expected)
    model.set_state_dict(converted)
    model.eval()
    x = paddle.to_tensor(np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype('float32'))
    tokens = model.forward_features(x).numpy()
    # the head(s) applied by hand with the torch-layout weights: y = x W^T + b
    manual = tokens[:, 0] @ timm['head.weight'].T + timm['head.bias']
    if 'head_dist.weight' in timm:
        manual = (manual + tokens[:, 1] @ timm['head_dist.weight'].T + timm['head_dist.bias']) / 2
    assert np.allclose(model(x).numpy(), manual, atol=1e-4)


def test_paddleclas_layout_is_not_transposed(tmp_path):
    """A PaddleClas-style .pdparams (timm names, Paddle layout) loads without transposing."""
    model = ppuhd.create_model('deit_small_patch16_224', **TINY)
    expected = _random_paddle_state(model, seed=2)
    path = str(tmp_path / 'DeiT_small_patch16_224_pretrained.pdparams')
    paddle.save({k: paddle.to_tensor(v) for k, v in expected.items()}, path)
    converted, _ = _convert_against('deit_small_patch16_224', model, load_checkpoint(path))
    assert all(np.array_equal(converted[k], expected[k]) for k in expected)


def test_old_timm_vit_small_is_refused_with_explanation():
    """PaddleClas ViT_small_patch16_224 = old timm vit_small: depth 8, width 768, no qkv bias."""
    state = {f'blocks.{i}.attn.qkv.weight': np.zeros((768, 2304), 'float32') for i in range(8)}
    state['cls_token'] = np.zeros((1, 1, 768), 'float32')
    with pytest.raises(ValueError, match='OLD timm vit_small'):
        CONVERTERS['vit_small_patch16_224'](state)
    state['blocks.0.attn.qkv.bias'] = np.zeros(2304, 'float32')  # with a qkv bias it is something else
    assert CONVERTERS['vit_small_patch16_224'](state)[0]['blocks.0.attn.qkv.weight'].shape == (768, 2304)


def test_module_prefix_and_strictness():
    model = ppuhd.create_model('vit_tiny_patch16_224', **TINY)
    timm = _to_timm(_random_paddle_state(model))
    converted, _ = _convert_against('vit_tiny_patch16_224', model, {f'module.{k}': v for k, v in timm.items()})
    assert set(converted) == set(model.state_dict())
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    broken = dict(timm, extra_token=np.zeros((1, 1, 192), 'float32'))
    del broken['norm.weight']
    broken['head.bias'] = np.zeros(7, 'float32')
    with pytest.raises(ValueError) as err:
        check_and_build(CONVERTERS['vit_tiny_patch16_224'](broken)[0], shapes)
    message = str(err.value)
    assert 'missing: norm.weight' in message and 'unexpected: extra_token' in message
    assert 'head.bias: got (7,), expected (5,)' in message
    with pytest.raises(ValueError, match='Not a ViT/DeiT state dict'):
        CONVERTERS['vit_tiny_patch16_224']({'conv.weight': np.zeros((1, 1, 1, 1))})


def test_regnet_bn_stats_renamed_counter_dropped():
    model = ppuhd.create_model('regnety_002', num_classes=5)
    expected = _random_paddle_state(model, seed=3)
    timm = _to_timm(expected)
    assert timm['head.fc.weight'].shape == (5, model.num_features)
    converted, dropped = _convert_against('regnety_002', model, timm)
    assert all(np.array_equal(converted[k], expected[k]) for k in expected)
    num_bn = sum(k.endswith('._mean') for k in expected)
    assert set(dropped) == {k for k in timm if k.endswith('num_batches_tracked')} and len(dropped) == num_bn == 44


def test_every_arch_has_a_converter():
    archs = [n for n in ppuhd.list_models() if n.startswith(('vit_', 'deit_', 'regnety_'))]
    assert set(archs) <= set(CONVERTERS)


def _cli(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'convert_weights.py'), *args],
                          capture_output=True, text=True, timeout=300)


def test_cli_full_size_deit_tiny_distilled(tmp_path):
    """Full-size official layout through the CLI (npz, so torch is not needed)."""
    model = ppuhd.create_model('deit_tiny_distilled_patch16_224')
    expected = _random_paddle_state(model, seed=4)
    src, dst = tmp_path / 'deit.npz', tmp_path / 'deit.pdparams'
    np.savez(src, **_to_timm(expected))
    proc = _cli('--arch', 'deit_tiny_distilled_patch16_224', '--src', str(src), '--dst', str(dst))
    assert proc.returncode == 0, proc.stderr
    assert '5,910,800 params' in proc.stdout
    loaded = paddle.load(str(dst))
    assert all(np.array_equal(loaded[k].numpy(), expected[k]) for k in expected)


def test_cli_refuses_wrong_arch_in_one_message(tmp_path):
    src = tmp_path / 'vit_tiny.npz'
    np.savez(src, **_to_timm(_random_paddle_state(ppuhd.create_model('vit_tiny_patch16_224'))))
    dst = tmp_path / 'x.pdparams'
    proc = _cli('--arch', 'deit_tiny_distilled_patch16_224', '--src', str(src), '--dst', str(dst))
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr and not dst.exists()
    assert 'missing: dist_token' in proc.stderr
    assert 'pos_embed: got (1, 197, 192), expected (1, 198, 192)' in proc.stderr


def test_torch_checkpoint_with_model_wrapper(tmp_path):
    torch = pytest.importorskip('torch')
    model = ppuhd.create_model('deit_tiny_patch16_224', **TINY)
    expected = _random_paddle_state(model, seed=5)
    path = tmp_path / 'deit.pth'
    torch.save({'model': {k: torch.from_numpy(v) for k, v in _to_timm(expected).items()}, 'epoch': 299}, path)
    converted, _ = _convert_against('deit_tiny_patch16_224', model, load_checkpoint(str(path)))
    assert all(np.array_equal(converted[k], expected[k]) for k in expected)


def test_safetensors_from_the_hub_layout(tmp_path):
    safetensors_numpy = pytest.importorskip('safetensors.numpy')
    model = ppuhd.create_model('vit_tiny_patch16_224', **TINY)
    expected = _random_paddle_state(model, seed=6)
    path = str(tmp_path / 'model.safetensors')
    safetensors_numpy.save_file(_to_timm(expected), path)
    converted, _ = _convert_against('vit_tiny_patch16_224', model, load_checkpoint(path))
    assert all(np.array_equal(converted[k], expected[k]) for k in expected)
