"""Batch loading that surfaces dataset errors instead of hanging.

Paddle 3.3's ``DataLoader`` with ``num_workers=0`` reads in a background thread; when the
dataset raises (e.g. an image that became unreadable), the thread dies and the main loop
waits forever. With no workers we therefore read and collate in the calling thread, so the
dataset's error (which names the file) propagates; worker processes report errors themselves.
"""
from typing import Iterable, Iterator, List

import numpy as np
import paddle
from paddle.io.dataloader.collate import default_collate_fn


def _to_tensors(batch):
    if isinstance(batch, dict):
        return {k: _to_tensors(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_tensors(v) for v in batch)
    return paddle.to_tensor(batch) if isinstance(batch, np.ndarray) else batch


class MainThreadLoader:
    """Iterate ``batch_sampler``, reading samples in this thread and collating as ``DataLoader`` does.

    Args:
        dataset: map-style dataset.
        batch_sampler: iterable of index lists.
    """

    def __init__(self, dataset, batch_sampler: Iterable[List[int]]):
        self.dataset, self.batch_sampler = dataset, batch_sampler

    def __iter__(self) -> Iterator:
        for indices in self.batch_sampler:
            yield _to_tensors(default_collate_fn([self.dataset[i] for i in indices]))

    def __len__(self) -> int:
        return len(self.batch_sampler)


def build_loader(dataset, batch_sampler, num_workers: int = 0):
    """``MainThreadLoader`` without workers (errors propagate), else a ``paddle.io.DataLoader``."""
    if num_workers == 0:
        return MainThreadLoader(dataset, batch_sampler)
    return paddle.io.DataLoader(dataset, batch_sampler=batch_sampler, num_workers=num_workers)
