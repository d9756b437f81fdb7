"""Trainer behaviour through the real CLI: resume exactness after SIGKILL, distributed, guards."""
import json
import os
import subprocess
import sys
import time

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


# ------------------------------------------------------------------ robustness: disks, identities, debris, workers
def _no_temp_files(*folders):
    return not [name for folder in folders for name in os.listdir(folder) if '.tmp.' in name]


def test_full_disk_keeps_the_last_good_checkpoint_and_no_partial_file(reference_run, tiny_uhdll, tmp_path):
    ref_out, _ = reference_run
    args = _train_args(tiny_uhdll, tmp_path)
    full = _run([os.path.join(HELPERS, 'killed_train.py'), 'disk-full', '6', '--', *args], check=False)
    assert full.returncode == 2 and 'Traceback' not in full.stderr, full.stderr[-2000:]
    assert 'No space left on device' in full.stderr and 'iter_00000003.pdckpt is intact' in full.stderr
    assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['iter_00000003.pdckpt']
    assert _no_temp_files(tmp_path, tmp_path / 'checkpoints')
    _run([TRAIN, *args, '--resume', 'auto'])  # space freed: the run continues from iteration 3
    _assert_bitwise_equal(_params(ref_out / 'final_model.pdparams'), _params(tmp_path / 'final_model.pdparams'))


def test_old_checkpoints_are_pruned_before_a_new_one_is_written(tiny_uhdll, tmp_path):
    """A disk with room for keep_last checkpoints suffices: pruning after saving needed keep_last + 1."""
    args = _train_args(tiny_uhdll, tmp_path, ['train.total_iters=9', 'train.eval_interval=9', 'train.keep_last=2'])
    _run([os.path.join(HELPERS, 'killed_train.py'), 'disk-room', '2', '--', *args])
    assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['iter_00000006.pdckpt', 'iter_00000009.pdckpt']


def _resumable_copy(reference_run, folder, edit=None):
    """``folder`` with the reference run's iteration-3 checkpoint (optionally with its state edited)."""
    from ppuhd.engine import checkpoint as ckpt
    src = reference_run[0] / 'checkpoints' / 'iter_00000003.pdckpt'
    (folder / 'checkpoints').mkdir(parents=True)
    if edit is None:
        os.link(src, folder / 'checkpoints' / src.name)
    else:
        state = ckpt.load_checkpoint(str(src))
        edit(state)
        ckpt.atomic_save(state, str(folder / 'checkpoints' / src.name))
    return folder


@pytest.mark.parametrize('change, message', [
    ('seed=1', 'seed: 0 in the checkpoint, 1 now'),
    ('data.batch_size=1', 'batch_size: 2 in the checkpoint, 1 now'),
    ('train.accum_steps=2', 'accum_steps: 1 in the checkpoint, 2 now'),
    ('train.total_iters=12', 'total_iters: 6 in the checkpoint, 12 now'),
    ('model.type="uhdfour_lol"', "model: {'type': 'uhdfour'} in the checkpoint, {'type': 'uhdfour_lol'} now"),
    (None, 'world_size: 2 in the checkpoint, 1 now'),
])
def test_resume_refuses_a_run_of_another_identity(reference_run, tiny_uhdll, tmp_path, change, message):
    from ppuhd.config import get_config
    from ppuhd.engine import Trainer

    def two_ranks(state):
        state['run']['world_size'] = 2
    out = _resumable_copy(reference_run, tmp_path / 'run', None if change else two_ranks)
    cfg = get_config(DEMO_CFG, tiny_overrides(tiny_uhdll, out) + ([change] if change else []))
    with pytest.raises(ValueError, match='Cannot resume') as err:
        Trainer(cfg, resume='auto')
    assert message in str(err.value) and '--force-resume' in str(err.value)


def test_forced_resume_keeps_the_earlier_config_and_starts_clean(reference_run, tiny_uhdll, tmp_path):
    out = _resumable_copy(reference_run, tmp_path / 'run')
    (out / 'config.yml').write_text((reference_run[0] / 'config.yml').read_text())
    debris = [out / 'best_model.pdparams.tmp.4242', out / 'config.yml.tmp.17', out / 'checkpoints' /
              'iter_00000006.pdckpt.tmp.4242']  # what a SIGKILL during writes leaves
    for path in debris:
        path.write_bytes(b'partial')
    args = _train_args(tiny_uhdll, out, ['train.total_iters=7', 'train.eval_interval=7', 'train.save_interval=7'])
    refused = _run([TRAIN, *args, '--resume', 'auto'], check=False)
    assert refused.returncode == 2 and 'total_iters: 6 in the checkpoint, 7 now' in refused.stderr
    _run([TRAIN, *args, '--resume', 'auto', '--force-resume'])
    log = (out / 'train.log').read_text()
    assert '--force-resume: resuming' in log and 'resumed from' in log and 'iter 7/7' in log
    assert all(not path.exists() for path in debris) and log.count('Removed the incomplete write') == 3
    kept = out / 'config.before_iter_00000003.yml'
    assert 'total_iters: 6' in kept.read_text() and 'total_iters: 7' in (out / 'config.yml').read_text()
    assert _no_temp_files(out, out / 'checkpoints')


def test_data_loader_workers_die_with_a_killed_trainer(tiny_uhdll, tmp_path):
    import uuid
    token = uuid.uuid4().hex  # inherited by the workers: finds them after their parent is gone
    mark = f'PPUHD_TEST_RUN={token}'.encode()

    def marked():
        found = []
        for pid in filter(str.isdigit, os.listdir('/proc')):
            try:
                with open(f'/proc/{pid}/environ', 'rb') as f:
                    if mark in f.read().split(b'\0'):
                        found.append(int(pid))
            except OSError:
                pass
        return found
    env = dict(os.environ, OMP_NUM_THREADS='1', PPUHD_TEST_RUN=token)
    args = _train_args(tiny_uhdll, tmp_path, ['data.num_workers=2'])
    with open(tmp_path / 'log.txt', 'w') as log:  # not a pipe: surviving workers would hold it open
        proc = subprocess.run([sys.executable, os.path.join(HELPERS, 'killed_train.py'), 'at-iter', '2', '--', *args],
                              stdout=log, stderr=log, env=env, timeout=300)
    assert proc.returncode == -9 and 'iter 2/6' in (tmp_path / 'log.txt').read_text()
    deadline = time.time() + 10
    while marked():
        if time.time() > deadline:
            for pid in marked():
                os.kill(pid, 9)
            pytest.fail('DataLoader workers outlived the SIGKILLed trainer')
        time.sleep(0.1)
