"""DeiT's losses against numpy hand computations; the frozen teacher of DistillationTask."""
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
import pytest

from ppuhd.losses import (DistillationLoss, LabelSmoothingCrossEntropy, SoftTargetCrossEntropy,
                          hard_distillation, soft_distillation)
from ppuhd.registry import TASKS


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


@pytest.fixture
def logits():
    rng = np.random.default_rng(0)
    return rng.normal(0, 2, (4, 7)).astype('float64'), rng.normal(0, 2, (4, 7)).astype('float64')


@pytest.mark.parametrize('tau', [1.0, 3.0])
def test_soft_distillation_is_kl_sum_over_numel_times_tau_squared(logits, tau):
    s, t = logits
    log_s, log_t = _log_softmax(s / tau), _log_softmax(t / tau)
    expected = (np.exp(log_t) * (log_t - log_s)).sum() / s.size * tau ** 2  # divided by B*C, not B
    got = float(soft_distillation(paddle.to_tensor(s), paddle.to_tensor(t), tau))
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert not np.isclose(got, expected * s.shape[1])  # the batch-mean convention would be C times larger


def test_soft_distillation_is_not_paddlevit_kl_without_log_target(logits):
    s, t = (paddle.to_tensor(v) for v in logits)
    # PaddleViT: log-probability target read as probabilities -> every term is 0
    buggy = F.kl_div(F.log_softmax(s, 1), F.log_softmax(t, 1), reduction='sum')
    assert float(buggy) == 0.0 and float(soft_distillation(s, t)) > 1e-3
    assert float(soft_distillation(s, s)) == pytest.approx(0.0, abs=1e-12)


def test_hard_distillation_is_ce_against_teacher_argmax(logits):
    s, t = logits
    expected = -_log_softmax(s)[np.arange(4), t.argmax(1)].mean()
    np.testing.assert_allclose(float(hard_distillation(paddle.to_tensor(s), paddle.to_tensor(t))), expected, rtol=1e-10)


@pytest.mark.parametrize('kind', ['none', 'soft', 'hard'])
def test_alpha_mixing(logits, kind):
    s, t = (paddle.to_tensor(v) for v in logits)
    base = paddle.to_tensor(1.7, dtype='float64')
    out = DistillationLoss(kind, alpha=0.3, tau=2.0)(base, s, t)
    kd = {'none': None, 'soft': soft_distillation(s, t, 2.0), 'hard': hard_distillation(s, t)}[kind]
    expected = 1.7 if kd is None else 0.7 * 1.7 + 0.3 * float(kd)
    assert float(out['loss']) == pytest.approx(expected, rel=1e-12)


def test_soft_target_and_label_smoothing_ce(logits):
    s, _ = logits
    labels = np.array([0, 3, 6, 2])
    target = np.full((4, 7), 0.1 / 7)
    target[np.arange(4), labels] += 0.9
    soft = float(SoftTargetCrossEntropy()(paddle.to_tensor(s), paddle.to_tensor(target)))
    np.testing.assert_allclose(soft, (-target * _log_softmax(s)).sum(1).mean(), rtol=1e-10)
    # timm's label smoothing CE equals the soft-target CE of the smoothed one-hot
    ls = float(LabelSmoothingCrossEntropy(0.1)(paddle.to_tensor(s), paddle.to_tensor(labels)))
    assert ls == pytest.approx(soft, rel=1e-10)
    with pytest.raises(ValueError, match='distillation_type'):
        DistillationLoss('kl')


class _Student(nn.Layer):
    """A tiny distilled student: (cls, dist) logits in distilled training, their mean otherwise."""

    def __init__(self, num_classes=5):
        super().__init__()
        self.num_classes = num_classes
        self.head, self.head_dist = nn.Linear(12, num_classes), nn.Linear(12, num_classes)
        self.distilled = False

    def set_distilled_training(self, enable=True):
        self.distilled = enable

    def forward(self, x):
        f = x.mean(axis=[2, 3]).tile([1, 4])
        a, b = self.head(f), self.head_dist(f)
        return (a, b) if self.distilled and self.training else (a + b) / 2


def _task(kind='hard', **kw):
    cfg = {'type': 'DistillationTask', 'distillation_type': kind, 'teacher_weights': None,
           'teacher': {'type': 'paddle.vision.resnet18', 'num_classes': 5}, **kw}
    with pytest.warns(UserWarning, match='RANDOMLY'):
        return TASKS.build(cfg, model=_Student())


def test_teacher_is_frozen_eval_and_outside_the_task():
    task = _task('soft', mixup={'mixup_alpha': 0.8, 'cutmix_alpha': 1.0})
    task.train()
    assert not task.teacher.training and all(p.stop_gradient for p in task.teacher.parameters())
    assert not any(k.startswith('teacher') for k in task.state_dict())
    assert len(task.parameters()) == len(task.model.parameters()) == 4
    batch = {'image': paddle.rand([4, 3, 32, 32]), 'label': paddle.to_tensor([0, 1, 2, 3]),
             'seed': paddle.to_tensor([5, 6, 7, 8])}
    out = task(batch)
    out['loss'].backward()
    assert all(p.grad is None for p in task.teacher.parameters())
    assert task.model.head_dist.weight.grad is not None and float(out['loss_kd']) > 0


def test_teacher_sees_the_mixed_batch():
    task = _task('hard', mixup={'mixup_alpha': 0.8, 'cutmix_alpha': 0.0})
    seen = []
    task.teacher.register_forward_pre_hook(lambda layer, inputs: seen.append(inputs[0].numpy()))
    student_in = []
    task.model.register_forward_pre_hook(lambda layer, inputs: student_in.append(inputs[0].numpy()))
    batch = {'image': paddle.rand([4, 3, 16, 16]), 'label': paddle.to_tensor([0, 1, 2, 3]),
             'seed': paddle.to_tensor([1, 2, 3, 4])}
    task(batch)
    np.testing.assert_array_equal(seen[0], student_in[0])
    assert not np.allclose(seen[0], batch['image'].numpy())  # mixed, not the raw images


def test_teacher_config_errors():
    with pytest.raises(ValueError, match='teacher_weights is missing'):
        TASKS.build({'type': 'DistillationTask', 'teacher': {'type': 'paddle.vision.resnet18'}}, model=_Student())
    with pytest.raises(KeyError, match='not a supported paddle.vision teacher'):
        TASKS.build({'type': 'DistillationTask', 'teacher_weights': None,
                     'teacher': {'type': 'paddle.vision.os.system'}}, model=_Student())
    with pytest.raises(ValueError, match='needs a distilled student'):
        TASKS.build({'type': 'DistillationTask', 'distillation_type': 'soft'}, model=nn.Linear(2, 2))
    with pytest.raises(FileNotFoundError, match='nope.pdparams'):
        TASKS.build({'type': 'DistillationTask', 'teacher_weights': 'nope.pdparams',
                     'teacher': {'type': 'paddle.vision.resnet18'}}, model=_Student())
