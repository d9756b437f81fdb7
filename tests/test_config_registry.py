import os

import pytest
import yaml

import ppuhd
from ppuhd.config import apply_overrides, dump_config, get_config, load_config
from ppuhd.registry import Registry

from conftest import ROOT


def _write(path, data):
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_base_inheritance_deep_merge_and_list_replace(tmp_path):
    _write(tmp_path / 'a.yml', {'x': {'p': 1, 'q': 2}, 'l': [1, 2, 3], 'keep': 'a'})
    _write(tmp_path / 'b.yml', {'x': {'q': 20}, 'only_b': True})
    (tmp_path / 'sub').mkdir()
    child = _write(tmp_path / 'sub' / 'c.yml', {'_base_': ['../a.yml', '../b.yml'], 'l': [9], 'x': {'r': 3}})
    cfg = load_config(child)
    assert cfg == {'x': {'p': 1, 'q': 20, 'r': 3}, 'l': [9], 'keep': 'a', 'only_b': True}


def test_base_as_string(tmp_path):
    _write(tmp_path / 'a.yml', {'v': 1})
    assert load_config(_write(tmp_path / 'c.yml', {'_base_': 'a.yml', 'w': 2})) == {'v': 1, 'w': 2}


def test_overrides_literal_eval_and_list_index():
    cfg = {'a': {'b': 1, 'c': 'x'}, 'l': [{'w': 1.0}], 'n': None}
    out = apply_overrides(cfg, ['a.b=3', 'a.c=hello', 'l.0.w=2.5', 'n=[1, 2]', "a.c='quoted'"])
    assert out == {'a': {'b': 3, 'c': 'quoted'}, 'l': [{'w': 2.5}], 'n': [1, 2]}
    assert cfg['a']['b'] == 1  # the input is not modified


def test_unknown_override_key_names_closest():
    cfg = load_config(os.path.join(ROOT, 'configs/uhdfour/uhdfour_demo.yml'))
    with pytest.raises(KeyError) as err:
        apply_overrides(cfg, ['train.total_iter=5'])
    assert 'train.total_iters' in str(err.value)
    with pytest.raises(ValueError):
        apply_overrides(cfg, ['train.total_iters'])


def test_resolved_config_round_trip(tmp_path):
    cfg = get_config(os.path.join(ROOT, 'configs/uhdfour/uhdfour_uhdll.yml'), ['train.epochs=3'])
    dump_config(cfg, str(tmp_path / 'out' / 'config.yml'))
    assert load_config(str(tmp_path / 'out' / 'config.yml')) == cfg


@pytest.mark.parametrize('path', ['configs/uhdfour/uhdfour_uhdll.yml', 'configs/uhdfour/uhdfour_lolv1.yml',
                                  'configs/uhdfour/uhdfour_demo.yml'])
def test_shipped_configs_resolve(path):
    cfg = load_config(os.path.join(ROOT, path))
    assert cfg['model']['type'] in ppuhd.MODELS
    assert cfg['task']['type'] in ppuhd.TASKS
    assert cfg['data']['train']['type'] in ppuhd.DATASETS
    for term in cfg['task']['losses']:
        assert term['type'] in ppuhd.LOSSES


def test_official_recipe_values():
    cfg = load_config(os.path.join(ROOT, 'configs/uhdfour/uhdfour_uhdll.yml'))
    opt = cfg['optimizer']
    assert (opt['type'], opt['lr'], opt['beta1'], opt['beta2']) == ('Adam', 1e-4, 0.9, 0.99)
    assert cfg['data']['batch_size'] == 2 and cfg['data']['train']['crop_size'] == 512
    weights = {t['name']: t['weight'] for t in cfg['task']['losses']}
    assert weights == {'l1': 5.0, 'l1_down': 0.5, 'perceptual': 0.001, 'ssim': 0.002}


def test_registry_decorator_duplicate_and_unknown():
    reg = Registry('thing')

    @reg.register()
    class Alpha:
        def __init__(self, k=1):
            self.k = k

    with pytest.raises(KeyError, match='already registered'):
        reg.register(Alpha)
    assert reg.build({'type': 'Alpha', 'k': 3}).k == 3
    with pytest.raises(KeyError) as err:
        reg.get('Alpah')
    assert 'Alpha' in str(err.value) and 'Did you mean' in str(err.value)
    with pytest.raises(KeyError, match="'type'"):
        reg.build({'k': 1})


def test_create_model_and_unknown_model():
    model = ppuhd.create_model('uhdfour')
    assert sum(int(p.numel()) for p in model.parameters()) == 17_537_370
    with pytest.raises(KeyError) as err:
        ppuhd.create_model('uhdfor')
    assert 'uhdfour' in str(err.value)


def _base_depth(path):
    with open(path) as f:
        bases = (yaml.safe_load(f) or {}).get('_base_', [])
    bases = [bases] if isinstance(bases, str) else bases
    return max((1 + _base_depth(os.path.normpath(os.path.join(os.path.dirname(path), b))) for b in bases), default=0)


def test_shipped_configs_inherit_at_most_two_levels():
    """DESIGN.md: ``_base_`` at most two levels deep, so a user config on top of any of them stays in the limit."""
    import glob
    deep = {p: d for p in glob.glob(os.path.join(ROOT, 'configs', '**', '*.yml'), recursive=True)
            if (d := _base_depth(p)) > 2}
    assert not deep, deep


def test_base_cycle_and_too_deep_chain_are_one_line_errors(tmp_path):
    import subprocess
    import sys
    _write(tmp_path / 'a.yml', {'_base_': 'b.yml', 'x': 1})
    _write(tmp_path / 'b.yml', {'_base_': 'a.yml'})
    _write(tmp_path / 'self.yml', {'_base_': 'self.yml'})
    for i in range(5):  # l0 -> l1 -> ... -> l4: four levels of _base_
        _write(tmp_path / f'l{i}.yml', {'_base_': f'l{i + 1}.yml'} if i < 4 else {'v': 1})
    with pytest.raises(ValueError, match=r'_base_ cycle: .*a\.yml -> .*b\.yml -> .*a\.yml$'):
        load_config(str(tmp_path / 'a.yml'))
    with pytest.raises(ValueError, match='_base_ cycle'):
        load_config(str(tmp_path / 'self.yml'))
    with pytest.raises(ValueError, match=r'deeper than 3 levels: .*l0\.yml -> .*l4\.yml$'):
        load_config(str(tmp_path / 'l0.yml'))
    assert load_config(str(tmp_path / 'l1.yml')) == {'v': 1}  # three levels are fine
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'train.py'), '-c', str(tmp_path / 'a.yml')],
                          capture_output=True, text=True, timeout=120)
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error:')]
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr
    assert len(errors) == 1 and '_base_ cycle' in errors[0]
