"""DeiT training with a teacher (deit ``losses.py`` ``DistillationLoss``, ``main.py``).

The teacher is built from the config, loaded, frozen and kept OUTSIDE the layer
tree of the task: it is never optimized, EMA'd, checkpointed, wrapped in
DataParallel or exported, and ``task.train()`` cannot switch it out of eval mode.
It sees the same mixed-up images as the student, under no_grad.
"""
import warnings
from typing import Optional

import paddle
import paddle.nn as nn
import paddle.vision.models as pvm

from ..losses.classification import classification_criterion
from ..losses.distillation import DistillationLoss
from ..registry import MODELS, TASKS
from ..utils.weights import load_weights
from .classification import ClassificationTask

# convnets of paddle.vision usable as teachers: an explicit whitelist, names never eval-ed
PADDLE_VISION_TEACHERS = {f'paddle.vision.{name}': getattr(pvm, name) for name in (
    'resnet18', 'resnet34', 'resnet50', 'resnet101', 'mobilenet_v2', 'mobilenet_v3_small', 'mobilenet_v3_large')}
_NOT_GIVEN = '<not given>'


def build_teacher(cfg: dict, weights: Optional[str]) -> nn.Layer:
    """A frozen eval-mode teacher from ``{type: <registered model or paddle.vision.NAME>, **kwargs}``."""
    cfg = dict(cfg)
    name = cfg.pop('type')
    if name.startswith('paddle.vision.'):
        if name not in PADDLE_VISION_TEACHERS:
            raise KeyError(f"task.teacher.type '{name}' is not a supported paddle.vision teacher; "
                           f'use one of {sorted(PADDLE_VISION_TEACHERS)} or a registered model')
        teacher = PADDLE_VISION_TEACHERS[name](**cfg)
    else:
        teacher = MODELS.get(name)(**cfg)
    if weights is None:
        warnings.warn('task.teacher_weights is null: the teacher is RANDOMLY initialised (only meant for tests)')
    else:
        load_weights(teacher, weights, 'Teacher weights', 'task.teacher_weights: convert the teacher with '
                     'tools/convert_weights.py or train it first')
    for param in teacher.parameters():
        param.stop_gradient = True
    teacher.eval()
    return teacher


@TASKS.register()
class DistillationTask(ClassificationTask):
    """DeiT student + frozen teacher.

    Args:
        model: the student; for 'soft'/'hard' a distilled model (``set_distilled_training``).
        teacher: ``{type: <registered model | paddle.vision.resnet18 ...>, **kwargs}``; null builds a task
            that can only predict (evaluation and export need no teacher).
        teacher_weights: the teacher's ``.pdparams`` (required); null = random teacher, with a warning (tests).
        distillation_type: 'none', 'soft' or 'hard'.
        alpha: weight of the distillation term.
        tau: temperature of the soft term.
        smoothing: label smoothing of the base criterion.
        mixup: ``Mixup`` arguments, or null.
    """

    INFERENCE_OVERRIDES = {'teacher': None}  # tools/eval.py and export do not build the teacher

    def __init__(self, model: nn.Layer, teacher: Optional[dict] = None, teacher_weights: Optional[str] = _NOT_GIVEN,
                 distillation_type: str = 'hard', alpha: float = 0.5, tau: float = 1.0, smoothing: float = 0.1,
                 mixup: Optional[dict] = None):
        super().__init__(model, smoothing, mixup)
        self.criterion = DistillationLoss(distillation_type, alpha, tau)
        distilled = hasattr(model, 'set_distilled_training')
        if distillation_type != 'none' and not distilled:
            raise ValueError(f"distillation_type '{distillation_type}' needs a distilled student "
                             f'(e.g. deit_tiny_distilled_patch16_224); {type(model).__name__} has no dist head')
        if distilled:
            model.set_distilled_training(True)  # (cls, dist) logits in train mode, as deit's models
        if teacher is not None and teacher_weights == _NOT_GIVEN:
            raise ValueError('task.teacher_weights is missing: give the teacher .pdparams (e.g. converted '
                             'regnety_160 weights from tools/convert_weights.py), or null for a random teacher '
                             '(tests only)')
        need_teacher = distillation_type != 'none'
        built = build_teacher(teacher, teacher_weights) if teacher is not None and need_teacher else None
        object.__setattr__(self, 'teacher', built)  # not a sublayer: see the module docstring

    def forward(self, batch):
        if self.criterion.distillation_type != 'none' and self.teacher is None:
            raise ValueError('This DistillationTask was built without a teacher (task.teacher: null): it can '
                             'predict but not train')
        images, target = self.mixed_inputs(batch)
        outputs = self.run_model(images)
        cls_logits, dist_logits = outputs if isinstance(outputs, (tuple, list)) else (outputs, None)
        base = classification_criterion(target, self.smoothing)(cls_logits, target)
        teacher_logits = None
        if self.teacher is not None:
            self.teacher.eval()
            with paddle.no_grad():
                teacher_logits = self.teacher(images)
        return self.criterion(base, dist_logits, teacher_logits)
