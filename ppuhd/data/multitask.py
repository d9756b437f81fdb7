"""One sample per task for multi-task pre-training (EDT's ``SRx2x3x4_EDTB_ImageNet200K``-style recipes).

EDT's multi-task ``Network.forward`` takes one input per task in the order of its tasks and runs
every head on its own batch, the body once on all of them, every tail (fenglinglwb/EDT
utils/modules/edt.py, ``Network.forward``). The pre-training data code is not released, so each
task here reads its own dataset (its own random crop and flips of the same photos when the configs
name the same folder): whether the official scales shared HR crops is unknown (configs say only
``DATASETS.TRAIN`` per task).
"""
from typing import Any, Dict, Mapping, Optional

import numpy as np

from ..inference import ImageIO
from ..registry import DATASETS


@DATASETS.register()
class MultiTaskDataset:
    """``{task: sample}`` with one sample of each task's dataset per index.

    Args:
        tasks: task name (as the model's ``tasks``, e.g. ``sr_x2``, ``dn_g15``) -> that task's dataset config
            (any image dataset: ``SRSyntheticDataset``, ``SRPairedDataset``, ``DenoiseDataset``, ...).
        equal_lengths: require every task's dataset to have the same length (evaluation: every index then holds
            one image of each task, so per-task means are means over the same images); otherwise the length is
            the longest one and the shorter datasets wrap around (training).
        task_image_io: the model's contract per task (set by ``ppuhd.data.builder.build_dataset`` from the
            model's ``task_image_io``), passed on to each task's dataset.
    """

    def __init__(self, tasks: Mapping[str, dict], equal_lengths: bool = False,
                 task_image_io: Optional[Mapping[str, ImageIO]] = None):
        if not isinstance(tasks, Mapping) or not tasks:
            raise ValueError('MultiTaskDataset needs tasks: {task name: dataset config}, e.g. '
                             '{sr_x2: {type: SRSyntheticDataset, root: ..., crop_size: 48}}')
        if task_image_io is not None:
            missing, extra = sorted(set(task_image_io) - set(tasks)), sorted(set(tasks) - set(task_image_io))
            if missing or extra:
                raise ValueError(f'MultiTaskDataset tasks {sorted(tasks)} do not match the model\'s tasks '
                                 f'{sorted(task_image_io)} (missing {missing}, unknown {extra}): give one dataset '
                                 'config per model task')
        self.tasks = list(task_image_io) if task_image_io is not None else list(tasks)  # the model's input order
        self.datasets = {}
        for name in self.tasks:
            extra = {'image_io': task_image_io[name]} if task_image_io is not None else {}
            self.datasets[name] = DATASETS.build(tasks[name], **extra)
        lengths = {name: len(ds) for name, ds in self.datasets.items()}
        if min(lengths.values()) == 0:
            raise ValueError(f'MultiTaskDataset: a task has no samples ({lengths})')
        if equal_lengths and len(set(lengths.values())) > 1:
            raise ValueError(f'MultiTaskDataset(equal_lengths=True): the tasks have {lengths} samples; evaluate '
                             'every task on the same images (e.g. Set14 at each scale)')
        self.length = max(lengths.values())

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index) -> Dict[str, Any]:
        """``index``, or ``(index, seed)`` from the resumable sampler: each task gets its own seed derived from
        ``seed`` (independent crops and flips, the same for the same ``(index, seed)``)."""
        index, seed = index if isinstance(index, (tuple, list)) else (index, None)
        out = {}
        for k, (name, ds) in enumerate(self.datasets.items()):
            i = index % len(ds)
            out[name] = ds[i] if seed is None else ds[(i, int(np.random.SeedSequence([seed, k]).generate_state(1)[0]))]
        return out
