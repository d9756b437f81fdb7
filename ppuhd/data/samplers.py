"""A resumable, distributed batch sampler: the data order is a pure function of (seed, step).

Epoch ``e`` visits ``default_rng([seed, e]).permutation(n)``; each global batch
of ``batch_size * world_size`` indices is split between ranks as
``paddle.io.DistributedBatchSampler`` does (rank r takes the r-th slice), and
the last incomplete global batch is dropped. Every sample comes with its own
augmentation seed derived from (seed, epoch, position), so augmentation does
not depend on worker processes, and a run resumed at step k sees exactly the
batches an uninterrupted run sees from step k on.
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
    """

    def __init__(self, num_samples: int, batch_size: int, total_steps: int, start_step: int = 0, seed: int = 0,
                 world_size: int = 1, rank: int = 0):
        global_batch = batch_size * world_size
        if num_samples < global_batch:
            raise ValueError(f'The training set has {num_samples} samples, fewer than one global batch '
                             f'({batch_size} x {world_size} ranks); lower data.batch_size or add data')
        self.num_samples, self.batch_size = num_samples, batch_size
        self.total_steps, self.start_step, self.seed = total_steps, start_step, seed
        self.world_size, self.rank = world_size, rank
        self.steps_per_epoch = num_samples // global_batch

    def batch_at(self, step: int) -> List[Tuple[int, int]]:
        epoch, pos = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(self.num_samples)
        start = pos * self.batch_size * self.world_size + self.rank * self.batch_size
        slots = range(start, start + self.batch_size)
        return [(int(order[j]), int(np.random.SeedSequence([self.seed, epoch, j]).generate_state(1)[0]))
                for j in slots]

    def __iter__(self) -> Iterator[List[Tuple[int, int]]]:
        for step in range(self.start_step, self.total_steps):
            yield self.batch_at(step)

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)
