"""Trainer behaviour through the real CLI: resume exactness after SIGKILL, distributed, guards."""
import json
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

from conftest import DEMO_CFG, ROOT, tiny_overrides

TRAIN = os.path.join(ROOT, 'tools', 'train.py')
HELPERS = os.path.join(ROOT, 'tests', 'helpers')


def _run(args, check=True, **kw):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=600, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return proc


def _train_args(data, out, extra=()):
    args = ['-c', DEMO_CFG]
    for item in tiny_overrides(data, out) + list(extra):
        args += ['-o', item]
    return args


def _params(path):
    return {k: v.numpy() for k, v in paddle.load(str(path)).items()}


def _assert_bitwise_equal(a, b):
    assert a.keys() == b.keys()
    different = [k for k in a if not np.array_equal(a[k], b[k])]
    assert not different, f'{len(different)} tensors differ, e.g. {different[:3]}'


@pytest.fixture(scope='module')
def reference_run(tiny_uhdll, tmp_path_factory):
    """An uninterrupted run of 6 iterations (checkpoints at 3 and 6)."""
    out = tmp_path_factory.mktemp('ref')
    proc = _run([TRAIN, *_train_args(tiny_uhdll, out)])
    return out, proc


def test_run_writes_config_log_checkpoints_and_best(reference_run):
    out, proc = reference_run
    files = set(os.listdir(out))
    assert {'config.yml', 'train.log', 'best_model.pdparams', 'final_model.pdparams', 'best.json'} <= files
    assert sorted(os.listdir(out / 'checkpoints')) == ['iter_00000003.pdckpt', 'iter_00000006.pdckpt']
    log = (out / 'train.log').read_text()
    for needle in ('iter 6/6', 'loss_l1', 'loss_ssim', 'img/s', 'eta', 'eval @ iter 3', "'perceptual'"):
        assert needle in log, needle
    assert os.listdir(out / 'vdl'), 'no VisualDL event file'
    best = json.loads((out / 'best.json').read_text())
    assert best['metric'] == 'psnr' and best['iter'] in (3, 6)


def test_resume_after_sigkill_is_bitwise_identical(reference_run, tiny_uhdll, tmp_path):
    ref_out, _ = reference_run
    args = _train_args(tiny_uhdll, tmp_path)
    killed = _run([os.path.join(HELPERS, 'killed_train.py'), 'at-iter', '4', '--', *args], check=False)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not (tmp_path / 'final_model.pdparams').exists()
    _run([TRAIN, *args, '--resume', 'auto'])
    assert 'resumed from' in (tmp_path / 'train.log').read_text()
    _assert_bitwise_equal(_params(ref_out / 'final_model.pdparams'), _params(tmp_path / 'final_model.pdparams'))


def test_kill_during_checkpoint_write_keeps_last_good_checkpoint(reference_run, tiny_uhdll, tmp_path):
    ref_out, _ = reference_run
    args = _train_args(tiny_uhdll, tmp_path)
    killed = _run([os.path.join(HELPERS, 'killed_train.py'), 'in-write', '6', '--', *args], check=False)
    assert killed.returncode == -9
    ckpts = os.listdir(tmp_path / 'checkpoints')
    assert 'iter_00000003.pdckpt' in ckpts and 'iter_00000006.pdckpt' not in ckpts
    assert any('.tmp.' in name for name in ckpts)  # the torn write, under a temporary name only
    resumed = _run([TRAIN, *args, '--resume', 'auto'])
    assert 'iter_00000003' in (tmp_path / 'train.log').read_text()
    assert not any('.tmp.' in name for name in os.listdir(tmp_path / 'checkpoints')), resumed.stdout
    _assert_bitwise_equal(_params(ref_out / 'final_model.pdparams'), _params(tmp_path / 'final_model.pdparams'))


def test_corrupt_newest_checkpoint_is_skipped(tmp_path):
    from ppuhd.engine import checkpoint as ckpt
    ckpt.atomic_save({'model': {}, 'iter': 3}, ckpt.checkpoint_path(str(tmp_path), 3))
    with open(ckpt.checkpoint_path(str(tmp_path), 9), 'wb') as f:
        f.write(b'not a checkpoint')
    path, state = ckpt.find_resumable(str(tmp_path))
    assert path.endswith('iter_00000003.pdckpt') and state['iter'] == 3


def test_two_process_data_parallel_ranks_agree(tiny_uhdll, tmp_path):
    overrides = tiny_overrides(tiny_uhdll, tmp_path, iters=4, interval=2)
    proc = _run(['-m', 'paddle.distributed.launch', '--nproc_per_node', '2', '--log_dir', str(tmp_path / 'log'),
                 os.path.join(HELPERS, 'dist_train.py'), DEMO_CFG, *overrides], check=False)
    logs = ''.join((tmp_path / 'log' / f).read_text() for f in os.listdir(tmp_path / 'log'))
    assert proc.returncode == 0, logs[-4000:]
    ranks = [np.load(tmp_path / f'rank{r}.npz') for r in (0, 1)]
    assert int(ranks[0]['world']) == 2 and int(ranks[1]['world']) == 2
    keys = [k for k in ranks[0].files if k != 'world']
    assert all(np.array_equal(ranks[0][k], ranks[1][k]) for k in keys)
    initial = paddle.load(str(tmp_path / 'checkpoints' / 'iter_00000002.pdckpt'))['model']
    assert any(not np.array_equal(ranks[0][k], initial[k].numpy()) for k in keys)  # it trained on
    assert 'global batch 4, 2 rank(s)' in (tmp_path / 'train.log').read_text()


def test_nonfinite_loss_guard_stops_with_clear_error(tiny_uhdll, tmp_path):
    proc = _run([TRAIN, *_train_args(tiny_uhdll, tmp_path, ['optimizer.lr=1e30', 'train.max_nonfinite=2',
                                                            'lr_scheduler.warmup_iters=0'])], check=False)
    assert proc.returncode == 2
    assert 'NaN/Inf' in proc.stderr and 'consecutive' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_image_unreadable_during_training_fails_naming_it(tiny_uhdll, tmp_path):
    # Paddle's DataLoader(num_workers=0) hangs when the dataset raises; ours must exit with the file's name
    import shutil
    data = tmp_path / 'data'
    shutil.copytree(tiny_uhdll, data)
    broken = data / 'training_set' / 'gt' / 'img003.png'
    broken.write_bytes(broken.read_bytes()[:60])  # the header still parses, the pixels do not decode
    proc = subprocess.run([sys.executable, TRAIN, *_train_args(str(data), tmp_path / 'out')], capture_output=True,
                          text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=120)
    assert proc.returncode != 0
    assert 'img003.png' in proc.stderr
