"""Optimizers with parameter groups, and learning-rate schedules stepped per iteration."""
import copy
import math
from typing import List, Optional, Sequence, Union

import paddle
import paddle.nn as nn
from paddle.optimizer.lr import LRScheduler

from ..registry import Registry

OPTIMIZERS = Registry('optimizer')
LR_SCHEDULERS = Registry('lr scheduler')


def param_groups(model: nn.Layer, weight_decay: float, skip_names: Sequence[str] = ()) -> List[dict]:
    """Two groups: with weight decay, and without it for norms, biases (any tensor of rank <= 1)
    and the names the model lists in ``no_weight_decay()`` (e.g. position embeddings)."""
    skip = set(skip_names)
    if hasattr(model, 'no_weight_decay'):
        skip |= set(model.no_weight_decay())
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.stop_gradient:
            continue
        (no_decay if param.ndim <= 1 or name in skip else decay).append(param)
    return [{'params': decay, 'weight_decay': weight_decay}, {'params': no_decay, 'weight_decay': 0.0}]


def _grad_clip(clip: Optional[Union[float, dict]]):
    """``train.grad_clip``: a number clips the global norm of all gradients; ``{max_norm: v, per_tensor: true}``
    clips each gradient tensor's own norm to v (MindSpore ``nn.ClipByNorm`` per gradient, as the IPT port)."""
    if isinstance(clip, dict):
        unknown = sorted(set(clip) - {'max_norm', 'per_tensor'})
        if unknown or 'max_norm' not in clip:
            raise KeyError(f'train.grad_clip: a number, or {{max_norm: v, per_tensor: true|false}}; got {clip!r}')
        if clip.get('per_tensor', False):
            return paddle.nn.ClipGradByNorm(float(clip['max_norm']))
        clip = clip['max_norm']
    return paddle.nn.ClipGradByGlobalNorm(float(clip)) if clip else None


def _coupled_decay(params: List[dict]) -> List[dict]:
    """Groups for optimizers with coupled (L2) decay: weight decay 0 becomes None. Paddle turns a float 0.0 into
    an L2Decay(0.0) that still runs a scale and an add_n for every parameter on every step (grad + 0 * param,
    the same gradient): 2 x 238 extra ops and 16 % of a UHDFour demo step (docs/benchmarks.md)."""
    return [dict(g, weight_decay=g['weight_decay'] or None) if isinstance(g, dict) else g for g in params]


@OPTIMIZERS.register()
def Adam(params, learning_rate, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8, grad_clip=None):
    """Adam; weight decay (L2, coupled) is set per parameter group."""
    return paddle.optimizer.Adam(learning_rate, beta1, beta2, epsilon, parameters=_coupled_decay(params),
                                 grad_clip=grad_clip)


@OPTIMIZERS.register()
def AdamW(params, learning_rate, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8, grad_clip=None):
    """AdamW (decoupled weight decay, set per parameter group)."""
    return paddle.optimizer.AdamW(learning_rate, beta1, beta2, epsilon, parameters=params, grad_clip=grad_clip)


@OPTIMIZERS.register()
def Momentum(params, learning_rate, momentum: float = 0.9, use_nesterov: bool = False, grad_clip=None):
    """SGD with (Nesterov) momentum."""
    return paddle.optimizer.Momentum(learning_rate, momentum, parameters=_coupled_decay(params),
                                     use_nesterov=use_nesterov,
                                     grad_clip=grad_clip)


@OPTIMIZERS.register()
def SGD(params, learning_rate, grad_clip=None):
    """Plain SGD (Momentum with momentum 0, so parameter-group weight decay applies)."""
    return paddle.optimizer.Momentum(learning_rate, 0.0, parameters=_coupled_decay(params), grad_clip=grad_clip)


def scaled_lr(cfg: dict, global_batch: int) -> float:
    """``cfg['lr']``, times ``global_batch / lr_scale_batch`` when ``lr_scale_batch`` is set
    (deit main.py: ``lr * batch_size * world_size / 512``; here the global batch also counts accumulation)."""
    scale_batch = cfg.get('lr_scale_batch')
    return float(cfg['lr']) * (global_batch / float(scale_batch) if scale_batch else 1.0)


def build_optimizer(cfg: dict, model: nn.Layer, lr: LRScheduler, clip_norm: Optional[Union[float, dict]] = None):
    """``cfg``: ``{type, weight_decay, no_weight_decay_names, **optimizer kwargs}``; ``lr`` is set by the schedule."""
    cfg = copy.deepcopy(cfg)
    cfg.pop('lr', None)
    cfg.pop('lr_scale_batch', None)
    groups = param_groups(model, float(cfg.pop('weight_decay', 0.0)), cfg.pop('no_weight_decay_names', ()))
    return OPTIMIZERS.build(cfg, params=groups, learning_rate=lr, grad_clip=_grad_clip(clip_norm))


class _WarmupLR(LRScheduler):
    """Linear warmup from ``warmup_start_lr`` over ``warmup_iters``, then ``_after_warmup``."""

    def __init__(self, base_lr: float, total_iters: int, warmup_iters: int = 0, warmup_start_lr: float = 0.0):
        self.total_iters, self.warmup_iters, self.warmup_start_lr = total_iters, warmup_iters, warmup_start_lr
        super().__init__(learning_rate=base_lr)

    def get_lr(self) -> float:
        it = self.last_epoch
        if it < self.warmup_iters:
            return self.warmup_start_lr + (self.base_lr - self.warmup_start_lr) * it / self.warmup_iters
        return self._after_warmup(it - self.warmup_iters, max(1, self.total_iters - self.warmup_iters))

    def _after_warmup(self, it: int, span: int) -> float:
        raise NotImplementedError


@LR_SCHEDULERS.register()
class CosineLR(_WarmupLR):
    """Warmup, then cosine from ``base_lr`` to ``eta_min`` at the last iteration.

    Args:
        base_lr: peak learning rate.
        total_iters: iterations of the run.
        warmup_iters: warmup length.
        warmup_start_lr: learning rate at iteration 0.
        eta_min: final learning rate.
    """

    def __init__(self, base_lr: float, total_iters: int, warmup_iters: int = 0, warmup_start_lr: float = 0.0,
                 eta_min: float = 0.0):
        self.eta_min = eta_min
        super().__init__(base_lr, total_iters, warmup_iters, warmup_start_lr)

    def _after_warmup(self, it, span):
        return self.eta_min + 0.5 * (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * min(it, span) / span))


@LR_SCHEDULERS.register()
class MultiStepLR(_WarmupLR):
    """Warmup, then ``base_lr * gamma ** (number of milestones passed)``; milestones count from iteration 0.

    Args:
        base_lr: initial learning rate.
        total_iters: iterations of the run.
        milestones: iterations at which the rate is multiplied by ``gamma``.
        gamma: decay factor.
        warmup_iters: warmup length.
        warmup_start_lr: learning rate at iteration 0.
    """

    def __init__(self, base_lr: float, total_iters: int, milestones: Sequence[int] = (), gamma: float = 0.1,
                 warmup_iters: int = 0, warmup_start_lr: float = 0.0):
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(base_lr, total_iters, warmup_iters, warmup_start_lr)

    def _after_warmup(self, it, span):
        passed = sum(self.last_epoch >= m for m in self.milestones)
        return self.base_lr * self.gamma ** passed


@LR_SCHEDULERS.register()
class ConstantLR(_WarmupLR):
    """Warmup, then constant ``base_lr``.

    Args:
        base_lr: learning rate.
        total_iters: iterations of the run.
        warmup_iters: warmup length.
        warmup_start_lr: learning rate at iteration 0.
    """

    def _after_warmup(self, it, span):
        return self.base_lr


@LR_SCHEDULERS.register()
class EpochCosineLR(LRScheduler):
    """timm ``CosineLRScheduler`` as deit steps it: once per EPOCH (constant within an epoch).

    Epoch e < warmup_epochs: ``warmup_start_lr + e * (base_lr - warmup_start_lr) / warmup_epochs``;
    then ``eta_min + (base_lr - eta_min) * (1 + cos(pi * e / epochs)) / 2``, with e counted from 0
    (timm without warmup_prefix: the cosine is not shifted by the warmup).

    Args:
        base_lr: peak learning rate.
        total_iters: iterations of the run.
        iters_per_epoch: iterations of one epoch.
        warmup_epochs: warmup length in epochs.
        warmup_start_lr: learning rate of epoch 0.
        eta_min: the cosine's floor (timm ``lr_min``).
    """

    def __init__(self, base_lr: float, total_iters: int, iters_per_epoch: int = 1, warmup_epochs: int = 0,
                 warmup_start_lr: float = 0.0, eta_min: float = 0.0):
        self.iters_per_epoch, self.warmup_epochs = max(1, iters_per_epoch), warmup_epochs
        self.epochs = max(1, total_iters // self.iters_per_epoch)
        self.warmup_start_lr, self.eta_min = warmup_start_lr, eta_min
        super().__init__(learning_rate=base_lr)

    def get_lr(self) -> float:
        epoch = self.last_epoch // self.iters_per_epoch
        if epoch < self.warmup_epochs:
            return self.warmup_start_lr + epoch * (self.base_lr - self.warmup_start_lr) / self.warmup_epochs
        return self.eta_min + 0.5 * (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.epochs))


def build_lr_scheduler(cfg: dict, base_lr: float, total_iters: int, iters_per_epoch: int) -> LRScheduler:
    """``*_epochs`` keys (``warmup_epochs``, ``milestones_epochs``) are converted to iterations, except for
    the per-epoch ``EpochCosineLR``, which gets ``iters_per_epoch`` instead."""
    cfg = copy.deepcopy(cfg)
    if cfg.get('type') == 'EpochCosineLR':
        return LR_SCHEDULERS.build(cfg, base_lr=base_lr, total_iters=total_iters, iters_per_epoch=iters_per_epoch)
    if 'warmup_epochs' in cfg:
        cfg['warmup_iters'] = int(round(cfg.pop('warmup_epochs') * iters_per_epoch))
    if 'milestones_epochs' in cfg:
        cfg['milestones'] = [int(round(e * iters_per_epoch)) for e in cfg.pop('milestones_epochs')]
    return LR_SCHEDULERS.build(cfg, base_lr=base_lr, total_iters=total_iters)
