"""Evaluation of a task on a dataset, sharded over ranks, sums all-reduced."""
from typing import Callable, Dict, List, Optional

import numpy as np
import paddle
from tqdm import tqdm

from ..metrics import compute_metrics
from ..utils.dist import all_reduce_sum, is_main_process, rank, world_size


def to_batch(sample: dict) -> dict:
    """One dataset sample -> a batch of one (arrays become tensors)."""
    return {k: paddle.to_tensor(v[None]) if isinstance(v, np.ndarray) else [v] for k, v in sample.items()}


def to_hwc(tensor: paddle.Tensor) -> np.ndarray:
    """First image of an NCHW batch as float32 HWC."""
    return tensor[0].numpy().transpose(1, 2, 0).astype('float32')


@paddle.no_grad()
def evaluate(task, dataset, metric_cfg: Dict[str, dict], progress: bool = True,
             on_image: Optional[Callable[[str, dict, dict], None]] = None, batch_size: int = 1) -> Dict[str, float]:
    """Mean metrics of ``task`` over ``dataset``, rank-sharded, sums all-reduced.

    A task with ``metric_sums(batch, metric_cfg)`` (classification) is evaluated in batches
    of ``batch_size``; otherwise (enhancement) image by image with ``task.predict`` and
    ``ppuhd.metrics.compute_metrics``, plus ``input_<metric>`` of the unprocessed input.

    Args:
        task: a Task with ``metric_sums``, or whose ``predict`` returns ``pred``, ``target`` and ``input``.
        dataset: the evaluation samples.
        metric_cfg: metric name -> keyword arguments.
        progress: show a progress bar on rank 0.
        on_image: per-image evaluation only: called as ``on_image(name, arrays, metrics)`` for every image.
        batch_size: batch size of the batched evaluation.
    """
    if hasattr(task, 'metric_sums'):
        return _evaluate_batched(task, dataset, metric_cfg, progress, batch_size)
    was_training = task.training
    task.eval()
    names: List[str] = []
    sums = None
    indices = range(rank(), len(dataset), world_size())
    for i in tqdm(indices, desc='eval', disable=not (progress and is_main_process()), leave=False):
        sample = dataset[i]
        out = task.predict(to_batch(sample))
        arrays = {k: to_hwc(v) for k, v in out.items() if v is not None}
        values = compute_metrics(arrays['pred'], arrays['target'], metric_cfg)
        values.update({f'input_{k}': v for k, v in
                       compute_metrics(arrays['input'], arrays['target'], metric_cfg).items()})
        names = sorted(values)
        row = np.array([values[n] for n in names] + [1.0])
        sums = row if sums is None else sums + row
        if on_image:
            on_image(sample['name'], arrays, values)
    task.train(was_training)
    if sums is None:  # this rank had no image; still take part in the all-reduce
        names = sorted(_metric_names(metric_cfg))
        sums = np.zeros(len(names) + 1)
    total = all_reduce_sum(sums)
    return {n: float(total[j] / max(total[-1], 1)) for j, n in enumerate(names)}


def _metric_names(metric_cfg):
    return list(metric_cfg) + [f'input_{k}' for k in metric_cfg]


@paddle.no_grad()
def _evaluate_batched(task, dataset, metric_cfg, progress, batch_size) -> Dict[str, float]:
    """Means of ``task.metric_sums`` (which includes ``count``) over this rank's shard, all-reduced.
    Metrics set to null in the config (e.g. the base config's image metrics) are left out."""
    metric_cfg = {k: v for k, v in metric_cfg.items() if v is not None}
    was_training = task.training
    task.eval()
    shard = paddle.io.Subset(dataset, list(range(rank(), len(dataset), world_size())))
    names = sorted(metric_cfg)
    sums = np.zeros(len(names) + 1)
    if len(shard):  # a rank without samples still takes part in the all-reduce
        loader = paddle.io.DataLoader(shard, batch_size=batch_size, shuffle=False, drop_last=False)
        for batch in tqdm(loader, desc='eval', disable=not (progress and is_main_process()), leave=False):
            values = task.metric_sums(batch, metric_cfg)
            sums += np.array([values[n] for n in names] + [values['count']])
    task.train(was_training)
    total = all_reduce_sum(sums)
    return {n: float(total[j] / max(total[-1], 1)) for j, n in enumerate(names)}
