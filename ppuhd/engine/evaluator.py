"""Evaluation of a task on a dataset, sharded over ranks, sums all-reduced.

The task computes its metrics (``Task.evaluate_batch``: enhancement image by image with the
unprocessed or bicubic baseline beside the model, classification in batches); this loop only
shards, batches, sums and all-reduces.
"""
from typing import Callable, Dict, Optional

import numpy as np
import paddle
from tqdm import tqdm

from ..data.loader import MainThreadLoader
from ..metrics import resolve_metrics
from ..utils.dist import all_reduce_sum, is_main_process, rank, world_size


def metric_config(eval_cfg: dict, task) -> Dict[str, Optional[dict]]:
    """``eval.metrics`` with ``eval.protocol`` applied for the task's model scale (``ppuhd.metrics.protocols``);
    a task with several scales (``MultiTaskRestorationTask``) resolves its own per task."""
    own = getattr(task, 'metric_config', None)
    if own is not None:
        return own(eval_cfg)
    image_io = getattr(task, 'image_io', None)
    return resolve_metrics(eval_cfg['metrics'], eval_cfg.get('protocol'), image_io.scale if image_io else 1)


@paddle.no_grad()
def evaluate(task, dataset, metric_cfg: Dict[str, dict], progress: bool = True,
             on_image: Optional[Callable[[str, dict, dict], None]] = None, batch_size: int = 1) -> Dict[str, float]:
    """Mean metrics of ``task`` over ``dataset``, rank-sharded, sums all-reduced.

    Args:
        task: a Task (``evaluate_batch``, ``metric_names``, ``eval_batch_size``).
        dataset: the evaluation samples.
        metric_cfg: metric name -> keyword arguments (null leaves a metric out).
        progress: show a progress bar on rank 0.
        on_image: called as ``on_image(name, arrays, metrics)`` for every image of tasks that have images.
        batch_size: requested batch size (``task.eval_batch_size`` may lower it).
    """
    was_training = task.training
    task.eval()
    names = task.metric_names(metric_cfg)
    sums = np.zeros(len(names) + 1)
    shard = list(range(rank(), len(dataset), world_size()))
    size = task.eval_batch_size(batch_size)
    loader = MainThreadLoader(dataset, [shard[i:i + size] for i in range(0, len(shard), size)])
    for batch in tqdm(loader, desc='eval', disable=not (progress and is_main_process()), leave=False):
        values, images = task.evaluate_batch(batch, metric_cfg)
        sums += np.array([values[n] for n in names] + [values['count']])
        for name, arrays, image_values in images if on_image else ():
            on_image(name, arrays, image_values)
    task.train(was_training)
    total = all_reduce_sum(sums)  # a rank without samples still takes part
    return {n: float(total[j] / max(total[-1], 1)) for j, n in enumerate(names)}
