"""A resumable, distributed batch sampler: the data order is a pure function of (seed, step).

Epoch ``e`` visits ``default_rng([seed, e]).permutation(n)``; each global batch
of ``batch_size * world_size`` indices is split between ranks as
``paddle.io.DistributedBatchSampler`` does (rank r takes the r-th slice), and
the last incomplete global batch is dropped. Every sample comes with its own
augmentation seed derived from (seed, epoch, position), so augmentation does
not depend on worker processes, and a run resumed at step k sees exactly the
batches an uninterrupted run sees from step k on.

``repeats > 1`` is DeiT's repeated augmentation (deit ``samplers.py``, RASampler):
each index of the epoch's permutation appears ``repeats`` times in a row, the list is
padded to a multiple of the world size and rank r takes every world_size-th entry
from r, so the copies of one image go to different ranks (or, on one rank, to one
batch) with different augmentation seeds. As RASampler, the epoch keeps the length
of ONE pass over the data (deit truncates to ``n // 256 * 256 / world_size`` per rank;
here the trainer's ``n // global_batch`` batches), so an epoch sees about n / repeats
distinct images.
"""
from typing import Iterator, List, Tuple

import numpy as np
from paddle.io import Sampler


class ResumableBatchSampler(Sampler):
    """Yields ``[(index, aug_seed), ...]`` batches for steps ``start_step .. total_steps - 1``.

    Args:
        num_samples: dataset length.
        batch_size: samples per rank and step.
        total_steps: number of batches (micro-batches) of the whole run.
        start_step: first batch to yield (the resume position).
        seed: seed of the data order.
        world_size: number of ranks.
        rank: this process's rank.
        repeats: repeated augmentation count (3 in DeiT; 1 = off).
    """

    def __init__(self, num_samples: int, batch_size: int, total_steps: int, start_step: int = 0, seed: int = 0,
                 world_size: int = 1, rank: int = 0, repeats: int = 1):
        global_batch = batch_size * world_size
        if num_samples < global_batch:
            raise ValueError(f'The training set has {num_samples} samples, fewer than one global batch '
                             f'({batch_size} x {world_size} ranks); lower data.batch_size or add data')
        self.num_samples, self.batch_size = num_samples, batch_size
        self.total_steps, self.start_step, self.seed = total_steps, start_step, seed
        self.world_size, self.rank, self.repeats = world_size, rank, repeats
        self.steps_per_epoch = num_samples // global_batch

    def batch_at(self, step: int) -> List[Tuple[int, int]]:
        epoch, pos = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(self.num_samples)
        if self.repeats > 1:
            order = np.repeat(order, self.repeats)
            total = -(-len(order) // self.world_size) * self.world_size
            order = np.concatenate([order, order[:total - len(order)]])
            first = pos * self.batch_size * self.world_size + self.rank  # slot in the strided rank view
            slots = range(first, first + self.batch_size * self.world_size, self.world_size)
        else:
            start = pos * self.batch_size * self.world_size + self.rank * self.batch_size
            slots = range(start, start + self.batch_size)
        return [(int(order[j]), int(np.random.SeedSequence([self.seed, epoch, j]).generate_state(1)[0]))
                for j in slots]

    def __iter__(self) -> Iterator[List[Tuple[int, int]]]:
        for step in range(self.start_step, self.total_steps):
            yield self.batch_at(step)

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)
