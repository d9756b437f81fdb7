"""One training step (forward, loss, backward, optimizer update): what ``Trainer`` runs every iteration and
what ``benchmarks/train_throughput.py`` times."""
import contextlib
import math
from typing import Dict, Optional, Sequence

import paddle

from ..utils import dist


class TrainStep:
    """One optimizer step over ``len(micro_batches)`` accumulated micro-batches.

    Args:
        task: the Task (``task(batch)`` returns ``{'loss', **logged terms}``).
        optimizer: the optimizer of ``task.model``.
        amp: ``ppuhd.engine.amp.Amp`` (autocast, loss scaling, the optimizer step).
        ema: ``ModelEMA`` updated after every step, or None.
    """

    def __init__(self, task, optimizer, amp, ema=None):
        self.task, self.optimizer, self.amp, self.ema = task, optimizer, amp, ema

    def __call__(self, micro_batches: Sequence[dict]) -> Optional[Dict[str, float]]:
        """The mean of each logged term over the micro-batches; None (gradients cleared, nothing updated)
        when a loss was not finite on any rank."""
        wrapper = self.task.wrapper
        totals: Dict[str, float] = {}
        for k, batch in enumerate(micro_batches):
            sync = wrapper is None or k == len(micro_batches) - 1
            with self.amp.autocast(), (contextlib.nullcontext() if sync else wrapper.no_sync()):
                out = self.task(batch)
            if not all_finite(out['loss']):
                self.optimizer.clear_grad()
                return None
            self.amp.backward(out['loss'] / len(micro_batches))
            for key, value in out.items():
                totals[key] = totals.get(key, 0.0) + float(value) / len(micro_batches)
        self.amp.step(self.optimizer)
        self.optimizer.clear_grad()
        if self.ema:
            self.ema.update(self.task.model)
        return totals


def all_finite(loss: paddle.Tensor) -> bool:
    """Is ``loss`` finite on every rank? (All ranks must take the same decision, or DataParallel's all-reduce
    would hang.)"""
    return bool(dist.all_reduce_sum([float(not math.isfinite(float(loss)))])[0] == 0)
