"""IPT's pre-training and fine-tuning objective on the shared trainer.

Chen et al., "Pre-Trained Image Processing Transformer", CVPR 2021; the PyTorch repository
(huawei-noah/Pretrained-IPT) releases no training code, the official MindSpore port does
(mindspore-ai/models ``research/cv/IPT``): ``train.py`` batches ImageNet samples that carry every
degradation and picks ONE task per batch (``bicubic.forward`` as ``per_batch_map``); ``src/utils.py``
``MyTrain`` computes ``L1(sr, hr) + 0.1 * SupConLoss(body tokens)`` on the mean-subtracted 0..255 tensors;
``src/loss.py`` clips each gradient's norm to 1.0 and Adam steps.
"""
from typing import Dict

import paddle
import paddle.nn as nn

from ..losses.contrastive import SupConLoss
from ..registry import TASKS
from .enhancement import EnhancementTask


@TASKS.register()
class IPTPretrainTask(EnhancementTask):
    """Train an IPT (``ppuhd.models.ipt``) with one task per batch, L1 plus the contrastive loss on its body tokens.

    Training batches come either from ``MultiDegradationDataset`` (``lq_<task>`` / ``gt_<task>`` for several
    tasks and each sample's ``seed``: the batch's task is ``tasks[seed of its first sample % len(tasks)]`` among
    the model's tasks present in the batch, so the choice is a pure function of the data order and resumes
    exactly), or from any ``{'lq', 'gt'}`` dataset for the model's current task (fine-tuning a single-task model).
    Prediction, evaluation and export are :class:`EnhancementTask`'s for the model's current task.

    Args:
        model: an IPT (``forward(x, task=..., return_tokens=True)`` returning the output and the body tokens).
        contrastive_weight: weight of :class:`~ppuhd.losses.SupConLoss` on the body tokens (0.1, the port's
            ``loss1 + 0.1 * loss2``); 0 trains on the L1 alone.
        temperature: the contrastive temperature (0.07).
        value_scale: the L1 is taken on ``value_scale`` x the [0, 1] images (255: the port's 0..255 tensors).
            With gradient clipping it sets how hard the clip bites, so it is kept.
        losses: must stay empty (the objective is fixed; inference builds pass ``[]``).
    """

    def __init__(self, model: nn.Layer, contrastive_weight: float = 0.1, temperature: float = 0.07,
                 value_scale: float = 255.0, losses: list = ()):
        if losses:
            raise ValueError('IPTPretrainTask has a fixed objective (L1 + contrastive_weight x SupCon): remove '
                             'task.losses and set task.contrastive_weight / task.temperature')
        if not hasattr(model, 'tasks') or not hasattr(model, 'task_index'):
            raise TypeError(f'IPTPretrainTask trains an IPT (ppuhd.models.ipt), not {type(model).__name__}')
        super().__init__(model, losses=[])
        if contrastive_weight < 0 or value_scale <= 0:
            raise ValueError(f'contrastive_weight must be >= 0 and value_scale > 0, got {contrastive_weight}, '
                             f'{value_scale}')
        self.contrastive_weight, self.value_scale = float(contrastive_weight), float(value_scale)
        self.contrastive = SupConLoss(temperature)

    def batch_task(self, batch: Dict) -> str:
        """The task this batch trains (see the class docstring)."""
        offered = [k[3:] for k in batch if k.startswith('lq_')]
        if not offered:
            if 'lq' not in batch:
                raise KeyError(f"IPTPretrainTask batches hold 'lq'/'gt' or 'lq_<task>'/'gt_<task>'; got "
                               f'{sorted(batch)}')
            return self.model.task
        unknown = sorted(set(offered) - set(self.model.tasks))
        if unknown:
            raise KeyError(f'the batch has tasks {unknown} that the model has no head for (its tasks: '
                           f'{list(self.model.tasks)}); set the dataset tasks to the model\'s')
        tasks = [t for t in self.model.tasks if t in offered]
        seed = batch['seed']
        first = int(seed.numpy().reshape(-1)[0]) if isinstance(seed, paddle.Tensor) else int(seed[0])
        return tasks[first % len(tasks)]

    def forward(self, batch):
        task = self.batch_task(batch)
        suffix = '' if 'lq' in batch else f'_{task}'
        lq, gt = batch[f'lq{suffix}'], batch[f'gt{suffix}']
        out, tokens = self.run_model(lq, task, True)
        result = {'loss_l1': (out - gt).abs().mean() * self.value_scale}
        if self.contrastive_weight:
            result['loss_con'] = self.contrastive(tokens)
            result['loss'] = result['loss_l1'] + self.contrastive_weight * result['loss_con']
        else:
            result['loss'] = result['loss_l1']
        return result
