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
             on_image: Optional[Callable[[str, dict, dict], None]] = None) -> Dict[str, float]:
    """Mean metrics of ``task.predict`` over ``dataset``, plus ``input_<metric>`` of the unprocessed input.

    Args:
        task: a Task whose ``predict`` returns ``pred``, ``target`` and ``input`` tensors.
        dataset: samples with ``lq``, ``gt`` and ``name``.
        metric_cfg: metric name -> keyword arguments (see ``ppuhd.metrics.compute_metrics``).
        progress: show a progress bar on rank 0.
        on_image: called as ``on_image(name, arrays, metrics)`` for every image of this rank.
    """
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
