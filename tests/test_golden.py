"""Every converted model against golden outputs of its official code, without torch or the official code.

Each ``tests/golden/<case>.npz`` (made by ``tests/golden/make_golden.py`` from an official checkout; see
docs/reproduction.md) holds the official checkpoint's tensor list, the seed of the weight rule
(``tests/golden/rule.py``), the inputs and the official outputs. Here the same weights are rebuilt from the
rule, saved as an ``.npz`` with the official names, converted by ``tools/convert_weights.py`` (its ``main``,
with a user's arguments, in this process), loaded strictly into the ppuhd model and run on the same inputs:

    python -m pytest tests/test_golden.py -q -s    # prints the rel. L2 of every output

The deeper checks (more sizes, real photos, tiling, parameter counts of every variant) stay in
``tests/test_official_parity*.py``, which need torch and the official code.
"""
import contextlib
import glob
import importlib.util
import io
import os

import numpy as np
import paddle
import pytest

import ppuhd
from conftest import ROOT
from golden import cases, golden_file, rule
from ppuhd.models.convert import CONVERTERS
from ppuhd.utils.weights import load_weights

TOLERANCE = 1e-4
GOLDEN_DIR = os.path.join(ROOT, 'tests', 'golden')
FILES = sorted(glob.glob(os.path.join(GOLDEN_DIR, '*.npz')))
# converters that reproduce no official model output: {converter function name: why}
NOT_A_MODEL = {'convert_vgg19': "torchvision VGG19 features for the perceptual loss and LPIPS; torchvision's CPU "
                                'wheel does not import next to torch 2.13 here (checked on synthetic weights in '
                                'tests/test_convert.py)'}


def _convert_cli():
    """``main`` of tools/convert_weights.py, run in this process (the same code path as the command line,
    without a Paddle start-up per case)."""
    path = os.path.join(ROOT, 'tools', 'convert_weights.py')
    spec = importlib.util.spec_from_file_location('convert_weights_cli', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _name(path):
    return os.path.basename(path)[:-4]


@pytest.fixture(scope='module', params=FILES, ids=[_name(p) for p in FILES])
def converted(request, tmp_path_factory):
    """(golden, case module, ppuhd model loaded from the CLI-converted rule weights) per golden file."""
    golden = golden_file.read(request.param)
    assert golden.meta['case'] == _name(request.param), 'file name and case differ'
    case = cases.load(golden.meta['case'])
    assert golden.meta['arch'] == case.ARCH
    tmp = tmp_path_factory.mktemp(golden.meta['case'])
    src, dst = tmp / 'official.npz', tmp / f'{case.ARCH}.pdparams'
    np.savez(src, **golden.state_dict())
    with contextlib.redirect_stdout(io.StringIO()) as report:
        assert _convert_cli()(['--arch', case.ARCH, '--src', str(src), '--dst', str(dst)]) == 0
    print('\n' + report.getvalue().strip())
    src.unlink()
    model = ppuhd.create_model(case.ARCH)
    load_weights(model, str(dst))
    model.eval()
    return golden, case, model


def _our_outputs(case, model, golden, names=None):
    """Our outputs on the golden inputs (``names``: only those, for cases whose ``our_outputs`` takes a subset)."""
    inputs = {k: paddle.to_tensor(rule.to_model_input(v)) for k, v in golden.inputs.items() if not names or k in names}
    with paddle.no_grad():
        return case.our_outputs(model, inputs)


def test_matches_official_outputs(converted):
    golden, case, model = converted
    ours = _our_outputs(case, model, golden)
    assert sorted(ours) == sorted(golden.outputs)
    errors = {name: golden_file.rel_l2(ours[name], ref) for name, ref in golden.outputs.items()}
    print()
    for name, error in errors.items():
        print(f"{golden.meta['case']} {name} {list(golden.outputs[name].shape)}: rel L2 {error:.2e} "
              f"(official noise floor {golden.meta['noise_floor'][name]:.1e})")
    assert all(e < TOLERANCE for e in errors.values()), errors


def test_parameter_count_is_the_official_reachable_one(converted):
    golden, _, model = converted
    ours = sum(int(p.size) for p in model.parameters() if not p.stop_gradient)
    assert ours == golden.meta['reachable_params'], (ours, golden.meta['reachable_params'])


def _mistake(state):
    """A converter mistake no shape check notices, as (what, {key: wrong value}): two same-shape tensors of one
    module exchanged (a norm's scale and bias, BN mean and variance, ...), as a wrong key map could; in a model
    without such a pair (ESPCN: three convs of distinct shapes), its first conv kernel flipped spatially (a
    convolution / cross-correlation mix-up)."""
    by_module = {}
    for key, value in state.items():
        by_module.setdefault((key.rpartition('.')[0], tuple(value.shape)), []).append(key)
    pairs = [keys[:2] for keys in by_module.values() if len(keys) > 1]
    if pairs:
        a, b = pairs[0]
        return f'{a} <-> {b}', {a: state[b].numpy().copy(), b: state[a].numpy().copy()}
    kernel = next((k for k, v in state.items() if v.ndim == 4 and min(v.shape[2:]) > 1), None)
    assert kernel, 'no module has two tensors of one shape and no conv kernel: give this model another mistake to catch'
    return f'{kernel} flipped', {kernel: np.ascontiguousarray(state[kernel].numpy()[:, :, ::-1, ::-1])}


def test_a_converter_mistake_is_caught(converted):
    """The check can fail: a plausible converter mistake (``_mistake``) moves some output beyond tolerance."""
    golden, case, model = converted
    state = model.state_dict()
    what, wrong = _mistake(state)
    saved = {k: state[k].numpy().copy() for k in wrong}
    try:
        for key, value in wrong.items():
            state[key].set_value(value)
        ours = _our_outputs(case, model, golden, getattr(case, 'MISTAKE_INPUTS', None))
    finally:
        for key, value in saved.items():
            state[key].set_value(value)
    assert ours
    worst = max(golden_file.rel_l2(value, golden.outputs[name]) for name, value in ours.items())
    print(f"\n{golden.meta['case']} with {what}: rel L2 {worst:.2e}")
    assert worst > TOLERANCE


def test_every_case_has_its_golden_file():
    missing = [name for name in cases.names() if not os.path.isfile(os.path.join(GOLDEN_DIR, f'{name}.npz'))]
    assert not missing, f'cases without a golden file (run tests/golden/make_golden.py --case NAME): {missing}'


def test_every_converter_is_checked_against_official_outputs():
    """A new model's converter needs a golden case (tests/golden/cases/), or a reason in NOT_A_MODEL."""
    covered = {CONVERTERS[golden_file.read(path).meta['arch']].__name__ for path in FILES}
    unchecked = sorted({fn.__name__ for fn in CONVERTERS.values()} - covered - set(NOT_A_MODEL))
    assert not unchecked, f'converters without a golden case: {unchecked}'
