"""Batch loading that surfaces dataset errors instead of hanging.

Paddle 3.3's ``DataLoader`` with ``num_workers=0`` reads in a background thread; when the
dataset raises (e.g. an image that became unreadable), the thread dies and the main loop
waits forever. With no workers we therefore read and collate in the calling thread, so the
dataset's error (which names the file) propagates; worker processes report errors themselves.

Worker processes die with the process that started them, even when it is SIGKILLed: Paddle's
own parent watchdog only runs between batches, so a worker blocked on a full queue would
otherwise stay alive (with its copy of the dataset) after the trainer is gone.
"""
import ctypes
import ctypes.util
import functools
import os
import signal
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


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int, worker_id: int = 0) -> None:
    """Worker init: ask the kernel to SIGKILL this process when its parent dies (Linux; elsewhere a no-op)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def build_loader(dataset, batch_sampler, num_workers: int = 0):
    """``MainThreadLoader`` without workers (errors propagate), else a ``paddle.io.DataLoader``
    whose workers die with this process."""
    if num_workers == 0:
        return MainThreadLoader(dataset, batch_sampler)
    return paddle.io.DataLoader(dataset, batch_sampler=batch_sampler, num_workers=num_workers,
                                worker_init_fn=functools.partial(die_with_parent, os.getpid()))
