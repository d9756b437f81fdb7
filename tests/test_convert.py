"""Weight conversion on synthetic official-format state dicts (no torch, no official repo needed).

The official layout is rebuilt from the Paddle model itself: ``module.`` prefix,
InstanceNorm ``weight`` instead of ``scale`` and the unused modules the official
``__init__`` builds. A real ``torch.save`` round trip runs when torch is importable.
"""
import os
import re
import subprocess
import sys

import numpy as np
import paddle
import pytest

import ppuhd
from conftest import ROOT
from ppuhd.models.convert import (CONVERTERS, check_and_build, convert_state_dict, load_checkpoint,
                                  strip_prefix, unwrap_state_dict)
from ppuhd.models.convert.vgg import vgg19_feature_shapes


def _random_like(shape, rng):
    return rng.standard_normal(shape).astype('float32')


def _block_prefixes(state):
    """Prefixes of every ProcessBlock (the modules that officially carry two unused 3x3 convs)."""
    return [k[:-len('.spatial_process.block.F.conv_1.weight')] for k in state
            if k.endswith('.spatial_process.block.F.conv_1.weight')]


def _unused_modules(paddle_state, arch, rng):
    """Plausible official weights of the modules the official forward never calls."""
    unused = {}
    for prefix in _block_prefixes(paddle_state):
        nc = paddle_state[f'{prefix}.cat.bias'].shape[0]
        for name in ('frequency_spatial', 'spatial_frequency'):
            unused[f'{prefix}.{name}.weight'] = _random_like((nc, nc, 3, 3), rng)
            unused[f'{prefix}.{name}.bias'] = _random_like((nc,), rng)
    if arch == 'uhdfour':  # HighNet conv3/conv4 are ProcessBlock(192), the same shapes as lownet.conv1
        block = {k: v for k, v in {**paddle_state, **unused}.items() if k.startswith('lownet.conv1.')}
        for name in ('conv3', 'conv4'):
            unused.update({k.replace('lownet.conv1.', f'highnet.{name}.'): v for k, v in block.items()})
        for name in ('con_temp1', 'con_temp2'):
            unused[f'highnet.{name}.weight'] = _random_like((16, 16, 3, 3), rng)
            unused[f'highnet.{name}.bias'] = _random_like((16,), rng)
    return unused


def _official_format(arch, seed=0):
    """(official-layout state dict, the Paddle state dict it must convert to, unused source keys)."""
    rng = np.random.default_rng(seed)
    paddle_state = {k: _random_like(v.shape, rng) for k, v in ppuhd.create_model(arch).state_dict().items()}
    official = {re.sub(r'\.norm\.scale$', '.norm.weight', k): v for k, v in paddle_state.items()}
    unused = _unused_modules(paddle_state, arch, rng)
    official = {f'module.{k}': v for k, v in {**official, **unused}.items()}
    return official, paddle_state, [f'module.{k}' for k in unused]


@pytest.fixture(scope='module', params=['uhdfour', 'uhdfour_lol'])
def official(request):
    return (request.param, *_official_format(request.param))


def test_round_trip_is_exact_and_reports_unused(official):
    arch, state, expected, unused = official
    converted, report = convert_state_dict(arch, state)
    assert list(converted) == list(expected)
    assert all(np.array_equal(converted[k], expected[k]) for k in expected)
    assert report.kept == len(expected) and report.dropped_tensors == len(unused)
    assert report.dropped_params == sum(state[k].size for k in unused)
    # One entry per built ProcessBlock (UHD HighNet conv3/conv4 are dropped as whole modules).
    assert len([m for m in report.dropped if m.endswith('.spatial_frequency')]) == len(_block_prefixes(expected))
    assert 'module.lownet.conv1.frequency_spatial' in report.summary()


def test_uhd_parameter_counts():
    state, _, _ = _official_format('uhdfour')
    _, report = convert_state_dict('uhdfour', state)
    assert report.kept_params == 17_537_370
    assert report.kept_params + report.dropped_params == sum(v.size for v in state.values()) == 33_641_978
    assert {'module.highnet.conv3', 'module.highnet.conv4', 'module.highnet.con_temp1',
            'module.highnet.con_temp2'} <= set(report.dropped)


def test_lol_keeps_its_used_highnet_modules():
    state, _, _ = _official_format('uhdfour_lol')
    converted, report = convert_state_dict('uhdfour_lol', state)
    assert 'highnet.con_temp1.weight' in converted and 'highnet.conv3.cat.weight' in converted
    assert not any(m.startswith('module.highnet.con') and 'frequency' not in m and 'spatial_freq' not in m
                   for m in report.dropped)


def test_unknown_key_is_refused(official):
    arch, state, _, _ = official
    with pytest.raises(ValueError, match=r'unexpected: lownet\.conv1\.mystery\.weight'):
        convert_state_dict(arch, {**state, 'module.lownet.conv1.mystery.weight': np.zeros(3, 'float32')})


def test_missing_key_is_refused(official):
    arch, state, _, _ = official
    partial = {k: v for k, v in state.items() if k != 'module.extract.bias'}
    with pytest.raises(ValueError, match=r'missing: extract\.bias'):
        convert_state_dict(arch, partial)


def test_wrong_shape_is_refused_with_both_shapes(official):
    arch, state, _, _ = official
    broken = {**state, 'module.extract.weight': np.zeros((8, 3, 3, 3), 'float32')}
    with pytest.raises(ValueError, match=r'extract\.weight: got \(8, 3, 3, 3\), expected \(8, 3, 1, 1\)'):
        convert_state_dict(arch, broken)


def test_all_problems_reported_at_once():
    with pytest.raises(ValueError) as err:
        check_and_build({'b': np.zeros(2), 'c': np.zeros(1)}, {'a': (1,), 'b': (3,)})
    assert all(s in str(err.value) for s in ('missing: a', 'unexpected: c', 'b: got (2,), expected (3,)'))


def test_unknown_arch_lists_supported():
    with pytest.raises(KeyError, match='uhdfour'):
        convert_state_dict('resnet9000', {})


def test_unwrap_and_strip_prefix():
    sd = {'a.weight': np.ones(1)}
    for wrapper in ('model', 'state_dict', 'params'):
        assert unwrap_state_dict({wrapper: sd, 'epoch': 3}) is sd
    assert unwrap_state_dict(sd) is sd
    with pytest.raises(ValueError):
        unwrap_state_dict([1, 2])
    assert list(strip_prefix({'module.a': 1, 'b': 2}, 'module.')) == ['a', 'b']


def _torchvision_vgg19(rng):
    state = {k: _random_like(shape, rng) for k, shape in vgg19_feature_shapes().items()}
    for index, shape in ((0, (4096, 25088)), (3, (4096, 4096)), (6, (1000, 4096))):
        state[f'classifier.{index}.weight'] = np.zeros(shape, 'float32')
        state[f'classifier.{index}.bias'] = np.zeros(shape[0], 'float32')
    return state


def test_vgg19_keeps_features_drops_classifier():
    shapes = vgg19_feature_shapes()
    assert len(shapes) == 32 and shapes['features.34.weight'] == (512, 512, 3, 3)
    state = _torchvision_vgg19(np.random.default_rng(0))
    converted, report = convert_state_dict('vgg19', state)
    assert list(converted) == list(shapes)
    assert all(np.array_equal(converted[k], state[k]) for k in shapes)
    assert report.dropped == {'classifier': 'classifier layer, unused by perceptual features'}
    assert report.dropped_tensors == 6 and report.kept_params == 20_024_384


def test_load_checkpoint_dispatches_on_extension(tmp_path):
    path = tmp_path / 'w.npz'
    np.savez(path, **{'module.a.weight': np.arange(3.0)})
    assert np.array_equal(load_checkpoint(str(path))['module.a.weight'], np.arange(3.0))
    (tmp_path / 'w.h5').write_bytes(b'')
    with pytest.raises(ValueError, match='extension'):
        load_checkpoint(str(tmp_path / 'w.h5'))
    with pytest.raises(FileNotFoundError):
        load_checkpoint(str(tmp_path / 'absent.pth'))


def _convert_cli(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'convert_weights.py'), *args],
                          capture_output=True, text=True, timeout=300)


def _assert_loads_into_model(arch, dst, expected):
    model = ppuhd.create_model(arch)
    state = paddle.load(str(dst))
    model.set_state_dict(state)
    assert all(np.array_equal(v.numpy(), expected[k]) for k, v in model.state_dict().items())


def test_cli_npz_end_to_end(tmp_path):
    state, expected, _ = _official_format('uhdfour_lol', seed=1)
    src, dst = tmp_path / 'official.npz', tmp_path / 'out' / 'uhdfour_lol.pdparams'
    np.savez(src, **state)
    proc = _convert_cli('--arch', 'uhdfour_lol', '--src', str(src), '--dst', str(dst))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith('uhdfour_lol: kept') and 'frequency_spatial' in proc.stdout
    _assert_loads_into_model('uhdfour_lol', dst, expected)
    assert [p.name for p in dst.parent.iterdir()] == ['uhdfour_lol.pdparams']


def test_cli_errors_are_one_line(tmp_path):
    src = tmp_path / 'bad.npz'
    np.savez(src, **{'module.extract.weight': np.zeros((8, 3, 1, 1), 'float32')})
    proc = _convert_cli('--arch', 'uhdfour', '--src', str(src), '--dst', str(tmp_path / 'x.pdparams'))
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr and 'missing: extract.bias' in proc.stderr
    assert not (tmp_path / 'x.pdparams').exists()
    listing = _convert_cli('--list')
    assert listing.returncode == 0 and listing.stdout.split() == sorted(CONVERTERS)


def test_cli_torch_dataparallel_checkpoint(tmp_path):
    torch = pytest.importorskip('torch')
    state, expected, _ = _official_format('uhdfour')
    src, dst = tmp_path / 'UHDFour.pth', tmp_path / 'uhdfour.pdparams'
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, src)
    proc = _convert_cli('--arch', 'uhdfour', '--src', str(src), '--dst', str(dst))
    assert proc.returncode == 0, proc.stderr
    assert '17,537,370 params' in proc.stdout and 'module.highnet.conv3' in proc.stdout
    _assert_loads_into_model('uhdfour', dst, expected)
