"""Engine pieces: parameter groups, LR schedules, sampler, EMA, AMP fallback, accumulation."""
import logging
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

from ppuhd.data.samplers import ResumableBatchSampler
from ppuhd.engine.amp import Amp
from ppuhd.engine.ema import ModelEMA
from ppuhd.engine.optim import build_lr_scheduler, build_optimizer, param_groups

from conftest import DEMO_CFG, ROOT, tiny_overrides


class _Net(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.fc = paddle.nn.Linear(4, 4)
        self.norm = paddle.nn.LayerNorm(4)
        self.pos_embed = self.create_parameter([1, 4, 4])

    def no_weight_decay(self):
        return {'pos_embed'}

    def forward(self, x):
        return self.norm(self.fc(x)) + self.pos_embed[0, 0]


def test_param_groups_skip_norms_biases_and_listed_names():
    net = _Net()
    decay, no_decay = param_groups(net, 0.05)
    names = {id(p): n for n, p in net.named_parameters()}
    assert [names[id(p)] for p in decay['params']] == ['fc.weight']
    assert sorted(names[id(p)] for p in no_decay['params']) == ['fc.bias', 'norm.bias', 'norm.weight', 'pos_embed']
    assert (decay['weight_decay'], no_decay['weight_decay']) == (0.05, 0.0)


@pytest.mark.parametrize('opt', ['Adam', 'AdamW', 'Momentum', 'SGD'])
def test_optimizers_build_and_step(opt):
    net = _Net()
    lr = build_lr_scheduler({'type': 'ConstantLR'}, 0.1, 10, 5)
    optimizer = build_optimizer({'type': opt, 'lr': 0.1, 'weight_decay': 0.01}, net, lr, clip_norm=1.0)
    before = net.fc.weight.numpy().copy()
    net(paddle.rand([2, 4])).sum().backward()
    optimizer.step()
    assert not np.array_equal(before, net.fc.weight.numpy())


def test_adam_without_decay_is_plain_adam():
    """A group with weight decay 0 gets no regularizer (Paddle's L2Decay(0.0) costs two ops per parameter):
    its parameters move exactly as under Adam without decay; the decayed group still decays."""
    paddle.seed(0)
    net, ref = _Net(), _Net()
    ref.set_state_dict(net.state_dict())
    lr = build_lr_scheduler({'type': 'ConstantLR'}, 0.1, 10, 5)
    optimizer = build_optimizer({'type': 'Adam', 'lr': 0.1, 'weight_decay': 0.5}, net, lr)
    plain = paddle.optimizer.Adam(0.1, parameters=ref.parameters())
    assert optimizer._param_groups[1]['weight_decay'] is None
    x = paddle.rand([2, 4])
    for model, opt in ((net, optimizer), (ref, plain)):
        model(x).sum().backward()
        opt.step()
    np.testing.assert_array_equal(net.fc.bias.numpy(), ref.fc.bias.numpy())
    assert not np.array_equal(net.fc.weight.numpy(), ref.fc.weight.numpy())


_FAULTS = """
import ctypes, resource, sys
from ppuhd.utils.device import setup_device
setup_device('cpu', 1)
libc = ctypes.CDLL('libc.so.6')
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
sizes = [(s + 1) << 20 for s in range(12)]  # 1..12 MB alive together, as the activations of one step
faults = []
for step in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [libc.malloc(s) for s in sizes]
    for b, s in zip(blocks, sizes):
        ctypes.memset(b, 1, s)
    for b in blocks:
        libc.free(b)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(*faults)
"""


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc malloc')
def test_setup_device_reuses_the_memory_freed_by_the_last_step():
    """glibc's defaults page-fault a step's 78 MB of tensors afresh every step (~20k faults); after
    setup_device('cpu') the second and third steps reuse the freed blocks. A MALLOC_* setting of the user's wins."""
    def faults(**env):
        proc = subprocess.run([sys.executable, '-c', _FAULTS], capture_output=True, text=True, check=True,
                              timeout=120, env={**os.environ, **env}, cwd=ROOT)
        return [int(v) for v in proc.stdout.split()]
    assert max(faults()[1:]) < 500
    assert min(faults(MALLOC_ARENA_MAX='2')[1:]) > 15000


def _lrs(cfg, base, total, per_epoch):
    sched = build_lr_scheduler(cfg, base, total, per_epoch)
    values = []
    for _ in range(total + 1):
        values.append(sched())
        sched.step()
    return values


def test_cosine_with_warmup_epochs():
    lrs = _lrs({'type': 'CosineLR', 'warmup_epochs': 1, 'warmup_start_lr': 1e-6, 'eta_min': 1e-5}, 5e-4, 100, 10)
    assert lrs[0] == pytest.approx(1e-6) and lrs[10] == pytest.approx(5e-4)
    assert lrs[5] == pytest.approx(1e-6 + (5e-4 - 1e-6) / 2)
    assert lrs[55] == pytest.approx(1e-5 + 0.5 * (5e-4 - 1e-5))
    assert lrs[100] == pytest.approx(1e-5)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_multistep_and_constant():
    lrs = _lrs({'type': 'MultiStepLR', 'milestones_epochs': [2, 4], 'gamma': 0.1}, 1.0, 60, 10)
    assert (lrs[19], lrs[20], lrs[39], lrs[40]) == pytest.approx((1.0, 0.1, 0.1, 0.01))
    assert set(_lrs({'type': 'ConstantLR'}, 0.3, 20, 10)) == {0.3}


def test_unknown_schedule_lists_names():
    with pytest.raises(KeyError, match='CosineLR'):
        build_lr_scheduler({'type': 'Cosine'}, 1.0, 10, 1)


def test_sampler_ranks_are_disjoint_and_resume_is_a_suffix():
    ranks = [ResumableBatchSampler(10, 2, total_steps=6, seed=3, world_size=2, rank=r) for r in (0, 1)]
    assert ranks[0].steps_per_epoch == 2  # 10 // (2 x 2): the incomplete global batch is dropped
    for step in range(6):
        a, b = (set(i for i, _ in s.batch_at(step)) for s in ranks)
        assert not a & b
    full = list(ResumableBatchSampler(10, 2, total_steps=6, seed=3))
    resumed = list(ResumableBatchSampler(10, 2, total_steps=6, start_step=4, seed=3))
    assert resumed == full[4:]
    epoch0 = [i for batch in full[:5] for i, _ in batch]
    assert sorted(epoch0) == list(range(10))  # one epoch visits every sample once


def test_ema_update_rule():
    net = _Net()
    ema = ModelEMA(net, decay=0.9)
    start = net.fc.weight.numpy().copy()
    net.fc.weight.set_value(paddle.zeros_like(net.fc.weight))
    ema.update(net)
    np.testing.assert_allclose(ema.state_dict()['fc.weight'].numpy(), 0.9 * start, rtol=1e-6)


def test_amp_on_cpu_warns_and_uses_fp32(caplog):
    paddle.set_device('cpu')
    logger = logging.getLogger('ppuhd')
    logger.addHandler(caplog.handler)  # the package logger does not propagate to the root
    try:
        amp = Amp('float16')
    finally:
        logger.removeHandler(caplog.handler)
    assert amp.dtype is None and amp.scaler is None
    assert 'fp32' in caplog.text
    with pytest.raises(ValueError, match='float16'):
        Amp('fp8')


def _two_steps(data, out, extra):
    """Final weights of 2 iterations; Adam with epsilon 1 so that update ~ gradient (no sign-of-noise
    amplification on parameters whose true gradient is 0, e.g. biases feeding an instance norm)."""
    args = ['-c', DEMO_CFG]
    for item in tiny_overrides(data, out, iters=2, interval=2) + ['lr_scheduler.warmup_iters=0', 'optimizer.lr=1.0',
                                                                  'optimizer.epsilon=1.0'] + extra:
        args += ['-o', item]
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'train.py'), *args],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {k: v.numpy() for k, v in paddle.load(str(out / 'final_model.pdparams')).items()}


def _mismatched(a, b):
    return [k for k in a if not np.allclose(a[k], b[k], rtol=1e-4, atol=1e-6)]


def test_gradient_accumulation_matches_the_larger_batch(tiny_uhdll, tmp_path):
    """batch 1 x 2 accumulation steps sees the same samples as batch 2 and ends at the same weights;
    batch 1 without accumulation does not."""
    bs2 = _two_steps(tiny_uhdll, tmp_path / 'bs2', ['data.batch_size=2'])
    acc2 = _two_steps(tiny_uhdll, tmp_path / 'acc2', ['data.batch_size=1', 'train.accum_steps=2'])
    bs1 = _two_steps(tiny_uhdll, tmp_path / 'bs1', ['data.batch_size=1'])
    assert not _mismatched(bs2, acc2), _mismatched(bs2, acc2)[:5]
    assert len(_mismatched(bs2, bs1)) > len(bs2) // 2


def test_model_weights_are_loaded_strictly(tmp_path):
    from ppuhd.engine import load_model_weights
    net = _Net()
    state = dict(net.state_dict())
    state['fc.weight'] = paddle.zeros([4, 5])
    state['extra.bias'] = paddle.zeros([1])
    del state['norm.bias']
    paddle.save(state, str(tmp_path / 'bad.pdparams'))
    with pytest.raises(ValueError) as err:
        load_model_weights(_Net(), str(tmp_path / 'bad.pdparams'))
    text = str(err.value)
    assert 'missing: norm.bias' in text and 'unexpected: extra.bias' in text and 'fc.weight: got (4, 5)' in text
    paddle.save(net.state_dict(), str(tmp_path / 'good.pdparams'))
    other = _Net()
    load_model_weights(other, str(tmp_path / 'good.pdparams'))
    assert np.array_equal(other.fc.weight.numpy(), net.fc.weight.numpy())
