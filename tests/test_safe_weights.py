"""Weight and checkpoint files are read without running code: a planted pickle is refused at every entry point."""
import collections
import os
import pickle
import sys

import numpy as np
import paddle
import pytest

from conftest import DEMO_CFG, ROOT, tiny_overrides
from ppuhd.utils.weights import TRUST_PICKLE_ENV, UnsafeWeightsError, read_paddle_file

sys.path.insert(0, os.path.join(ROOT, 'tools'))


class _RunsCode:
    """Unpickling this calls ``exec``: it writes ``marker``, as a malicious weight file would run anything."""

    def __init__(self, marker, via='exec'):
        self.marker, self.via = str(marker), via

    def __reduce__(self):
        if self.via == 'system':
            return os.system, (f'touch {self.marker}',)
        if self.via == 'eval':  # the name Paddle's dense tensors use, with another expression
            return eval, (f"open({self.marker!r}, 'w').write('ran')", {'data': np.zeros(1)})
        return exec, (f"open({self.marker!r}, 'w').write('ran')",)


def _plant(path, marker, via='exec', state=None):
    """A .pdparams-looking pickle: real-looking arrays plus one object that runs code when loaded."""
    obj = dict(state or {'conv.weight': np.zeros((2, 3), np.float32)})
    obj['extra'] = _RunsCode(marker, via)
    with open(path, 'wb') as f:
        pickle.dump(obj, f, protocol=4)
    return str(path)


@pytest.fixture
def evil(tmp_path):
    marker = tmp_path / 'marker'
    return _plant(tmp_path / 'evil.pdparams', marker), marker


def _refused(marker, err):
    assert not marker.exists(), 'the pickle ran code'
    text = str(err.value)
    assert 'refused' in text and TRUST_PICKLE_ENV in text
    return text


@pytest.mark.parametrize('via', ['exec', 'system', 'eval'])
def test_reader_refuses_code_and_the_opt_in_would_run_it(tmp_path, via):
    marker = tmp_path / 'marker'
    path = _plant(tmp_path / 'w.pdparams', marker, via)
    with pytest.raises(UnsafeWeightsError) as err:
        read_paddle_file(path, 'Model weights')
    assert path in _refused(marker, err)
    # the file really is malicious: with the explicit opt-in paddle.load runs it
    read_paddle_file(path, trust_pickle=True)
    assert marker.exists()


def test_reader_gives_what_paddle_load_gives(tmp_path):
    """State dicts, nested checkpoints (optimizer, RNG state, numpy scalars), protocol-2 files: as paddle.load."""
    paddle.seed(3)
    layer = paddle.nn.Linear(4, 3)
    opt = paddle.optimizer.AdamW(parameters=layer.parameters())
    layer(paddle.rand([2, 4])).mean().backward()
    opt.step()
    nested = {'model': layer.state_dict(), 'optimizer': opt.state_dict(), 'rng': paddle.get_rng_state('cpu'),
              'numpy_rng': np.random.get_state(), 'iter': 7, 'best': {'value': np.float32(1.5)},
              'order': collections.OrderedDict(a=(1, 2)), 'names': {'x', 'y'}}
    cases = [(layer.state_dict(), 4), (nested, 4), (layer.state_dict(), 2)]
    for i, (obj, protocol) in enumerate(cases):
        path = str(tmp_path / f'{i}.pdparams')
        paddle.save(obj, path, protocol=protocol)
        for return_numpy in (False, True):
            _assert_same(paddle.load(path, return_numpy=return_numpy),
                         read_paddle_file(path, return_numpy=return_numpy))


def _assert_same(a, b, where='root'):
    assert type(a) is type(b), (where, type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            _assert_same(a[key], b[key], f'{where}.{key}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f'{where}[{i}]')
    elif isinstance(a, paddle.Tensor):
        assert a.dtype == b.dtype and a.name == b.name and np.array_equal(a.numpy(), b.numpy()), where
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b), where
    elif type(a).__name__ == 'GeneratorState':
        assert a.current_seed() == b.current_seed(), where
    else:
        assert a == b, where


def test_damaged_file_is_a_clear_error(tmp_path):
    path = tmp_path / 'w.pdparams'
    paddle.save({'a': paddle.ones([3])}, str(path))
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ValueError, match='not a readable Paddle file'):
        read_paddle_file(str(path))


def test_convert_weights_refuses_a_planted_pdparams(evil, tmp_path):
    import convert_weights
    path, marker = evil
    with pytest.raises(UnsafeWeightsError) as err:
        convert_weights.main(['--arch', 'uhdfour', '--src', path, '--dst', str(tmp_path / 'out.pdparams')])
    _refused(marker, err)
    with pytest.raises(Exception):  # --trust-pickle reaches paddle.load, which runs the file (then fails to convert)
        convert_weights.main(['--arch', 'uhdfour', '--src', path, '--dst', str(tmp_path / 'out.pdparams'),
                              '--trust-pickle'])
    assert marker.exists()


def test_export_and_model_weights_refuse_it(evil, tmp_path):
    import export
    from ppuhd.config import get_config
    from ppuhd.engine import build_task
    path, marker = evil
    with pytest.raises(UnsafeWeightsError) as err:
        export.main(['-c', DEMO_CFG, '--weights', path, '--output', str(tmp_path / 'export')])
    _refused(marker, err)
    with pytest.raises(UnsafeWeightsError) as err:  # model_weights: tools/infer.py and tools/eval.py go this way
        build_task(dict(get_config(DEMO_CFG), model_weights=path), inference=True)
    _refused(marker, err)


def test_teacher_weights_refuse_it(evil):
    from ppuhd.registry import TASKS
    from test_distillation import _Student
    path, marker = evil
    with pytest.raises(UnsafeWeightsError) as err:
        TASKS.build({'type': 'DistillationTask', 'teacher_weights': path,
                     'teacher': {'type': 'paddle.vision.resnet18', 'num_classes': 5}}, model=_Student())
    _refused(marker, err)


def test_resume_refuses_a_planted_checkpoint(tiny_uhdll, tmp_path):
    """--resume auto picks the newest checkpoint: a planted one stops the run instead of running or being skipped."""
    from ppuhd.config import get_config
    from ppuhd.engine import Trainer
    from ppuhd.engine import checkpoint as ckpt
    cfg = get_config(DEMO_CFG, tiny_overrides(tiny_uhdll, tmp_path))
    marker = tmp_path / 'marker'
    ckpt.atomic_save({'model': {}, 'iter': 3}, ckpt.checkpoint_path(str(tmp_path / 'checkpoints'), 3))
    planted = _plant(ckpt.checkpoint_path(str(tmp_path / 'checkpoints'), 99), marker, state={'iter': 99})
    for resume in ('auto', planted):
        with pytest.raises(UnsafeWeightsError) as err:
            Trainer(cfg, resume=resume)
        assert planted in _refused(marker, err)
