"""Multi-task restoration pre-training: one input per task through one model (EDT's multi-task models).

EDT's pre-training (fenglinglwb/EDT, utils/modules/edt.py ``Network.forward`` with ``gt``): every task's
head on its own batch, the body once on all head outputs, every tail, and the loss summed over the
tasks. The model (``ppuhd.models.edt.EDT`` with several ``tasks``) does the routing; this task feeds it
``[lq of each task]`` in the model's task order (batches of ``ppuhd.data.MultiTaskDataset``) and sums the
loss terms of each task. Evaluation runs each task's own test pipeline and reports per-task metrics
(``sr_x2_psnr``, ``sr_x2_bicubic_psnr``, ...) and their mean over the tasks (``psnr``), which picks the
best checkpoint. Export a single-task model fine-tuned from it (``model.init_branch``), not this one.
"""
from typing import Any, Dict, List, Optional, Union

import paddle
import paddle.nn as nn

from ..inference.planes import model_planes, to_rgb
from ..metrics import resolve_metrics
from ..registry import TASKS
from .base import Task
from .enhancement import _LossTerm, baseline_name, image_metrics


@TASKS.register()
class MultiTaskRestorationTask(Task):
    """Train a multi-task image-to-image model on ``{task: {'lq', 'gt'}}`` batches.

    Args:
        model: a model with ``tasks`` (names, its input order) and ``task_image_io`` (each task's contract)
            whose ``forward`` takes a list of one input per task and returns one output per task.
        losses: loss terms as ``EnhancementTask``'s (``{type, weight, name, ...}``), applied to every task.
        task_weights: weight of each task's loss (default 1 each: the official plain sum).
    """

    DEPLOY_KIND = ''

    def __init__(self, model: nn.Layer, losses: List[dict], task_weights: Optional[Dict[str, float]] = None):
        super().__init__(model)
        tasks, ios = getattr(model, 'tasks', None), getattr(model, 'task_image_io', None)
        if not tasks or not ios or len(tasks) < 2:
            raise ValueError(f'MultiTaskRestorationTask needs a multi-task model (several tasks, one input each), '
                             f'got {type(model).__name__} with tasks {tasks}: train a single-task model with '
                             'EnhancementTask')
        self.tasks, self.task_image_io = list(tasks), dict(ios)
        unknown = sorted(set(task_weights or {}) - set(self.tasks))
        if unknown:
            raise KeyError(f'task.task_weights names {unknown}, which are not tasks of the model {self.tasks}')
        self.task_weights = {t: float((task_weights or {}).get(t, 1.0)) for t in self.tasks}
        self.terms = nn.LayerList([_LossTerm(cfg) for cfg in losses if cfg.get('enabled', True)])
        for term in self.terms:
            if term.output != 'pred':
                raise KeyError(f"Loss term '{term.name}' uses output '{term.output}'; a multi-task model has one "
                               "output per task ('pred')")
        self._task_metric_cfg: Optional[Dict[str, Dict[str, dict]]] = None

    def _inputs(self, batch: Dict[str, Dict[str, paddle.Tensor]], key: str) -> List[paddle.Tensor]:
        missing = [t for t in self.tasks if t not in batch]
        if missing:
            raise KeyError(f'the batch has no samples of tasks {missing} (it has {sorted(batch)}): '
                           'data.train must be a MultiTaskDataset with one dataset per model task')
        return [model_planes(batch[t][key], self.task_image_io[t]) for t in self.tasks]

    def forward(self, batch):
        if not self.terms:
            raise ValueError('This MultiTaskRestorationTask has no enabled loss term (built for inference, or '
                             'every term disabled in task.losses): it can predict but not train')
        outs = self.run_model(self._inputs(batch, 'lq'))
        result: Dict[str, paddle.Tensor] = {}
        for task, out, target in zip(self.tasks, outs, self._inputs(batch, 'gt')):
            for term in self.terms:
                result[f'loss_{term.name}_{task}'] = self.task_weights[task] * term({'pred': out}, target)
        result['loss'] = paddle.add_n(list(result.values()))
        return result

    @paddle.no_grad()
    def predict(self, batch) -> Dict[str, Dict[str, paddle.Tensor]]:
        """Each task's ``{'pred', 'target', 'input'}`` through its own test pipeline (the model in eval mode)."""
        outs = self.model(self._inputs(batch, 'lq'))
        result = {}
        for task, out in zip(self.tasks, outs):
            lq, io = batch[task]['lq'], self.task_image_io[task]
            if io.channels != 'rgb':
                out = paddle.to_tensor(to_rgb(out.numpy(), lq.numpy(), io))
            result[task] = {'pred': out, 'target': batch[task].get('gt'), 'input': lq}
        return result

    def metric_config(self, eval_cfg: dict) -> Dict[str, Optional[dict]]:
        """The metric names (resolved at scale 1) for the evaluator; each task's own resolution (its scale, its
        protocol: ``eval.protocol`` is one name or ``{task: name}``) is kept for ``evaluate_batch``."""
        protocol: Union[None, str, Dict[str, str]] = eval_cfg.get('protocol')
        if isinstance(protocol, dict):
            missing = sorted(set(self.tasks) - set(protocol))
            if missing:
                raise KeyError(f'eval.protocol names a protocol per task but not for {missing}')
        per_task = {t: protocol.get(t) if isinstance(protocol, dict) else protocol for t in self.tasks}
        self._task_metric_cfg = {t: resolve_metrics(eval_cfg['metrics'], per_task[t], self.task_image_io[t].scale)
                                 for t in self.tasks}
        return resolve_metrics(eval_cfg['metrics'], None if isinstance(protocol, dict) else protocol, 1)

    def eval_batch_size(self, requested: int) -> int:
        return 1  # evaluation images have their own sizes

    def metric_names(self, metric_cfg: Dict[str, dict]) -> List[str]:
        names = [n for n, kw in metric_cfg.items() if kw is not None]
        per_task = [f'{t}_{prefix}{n}' for t in self.tasks for n in names
                    for prefix in ('', f'{baseline_name(self.task_image_io[t].scale)}_')]
        return sorted(names + per_task)

    def evaluate_batch(self, batch, metric_cfg):
        """Per-task sums (``{task}_{metric}``, ``{task}_{baseline}_{metric}``) and, per metric, the mean over
        the tasks of this sample; ``count`` counts samples (one image of every task each)."""
        outs = self.predict(batch)
        sums: Dict[str, float] = {'count': 0.0}
        images = []
        names = [n for n, kw in metric_cfg.items() if kw is not None]
        for task in self.tasks:
            cfg = (self._task_metric_cfg or {}).get(task, metric_cfg)
            task_sums, task_images = image_metrics(outs[task], batch[task]['name'], self.task_image_io[task].scale,
                                                   cfg)
            count = task_sums.pop('count')
            sums['count'] = count
            for key, value in task_sums.items():
                sums[f'{task}_{key}'] = value
            for n in names:
                sums[n] = sums.get(n, 0.0) + task_sums[n] / len(self.tasks)
            images += [(f'{task}_{name}', arrays, values) for name, arrays, values in task_images]
        return sums, images

    def export_layer(self, **options) -> nn.Layer:
        raise ValueError(f'{type(self.model).__name__} with tasks {self.tasks} is a pre-training model: fine-tune '
                         'a single-task model from it (model.init_branch, e.g. configs/edt/edt_b_sr_x2_df2k_ft.yml) '
                         'and export that')

    def deploy_config(self, cfg: Dict[str, Any], **options) -> Dict[str, Any]:
        return self.export_layer()
