"""Image classification (ViT / DeiT training as deit ``main.py`` + ``engine.py``)."""
from typing import Dict, Optional

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..data.mixup import Mixup
from ..losses.classification import classification_criterion
from ..metrics.classification import classification_sums
from ..registry import TASKS
from .base import Task


def batch_rng(batch: dict) -> np.random.Generator:
    """Generator seeded by the batch's per-sample augmentation seeds (set by the resumable sampler),
    so batch-level augmentation (Mixup/CutMix) replays exactly on resume."""
    seeds = batch.get('seed')
    return np.random.default_rng(None if seeds is None else [int(s) for s in np.asarray(seeds).reshape(-1)])


@TASKS.register()
class ClassificationTask(Task):
    """Train a classifier on ``{'image', 'label'}`` batches.

    Args:
        model: the classifier.
        smoothing: label smoothing of the cross-entropy (folded into the targets when ``mixup`` is on).
        mixup: ``ppuhd.data.mixup.Mixup`` arguments (``num_classes`` defaults to the model's), or null.
    """

    def __init__(self, model: nn.Layer, smoothing: float = 0.1, mixup: Optional[dict] = None):
        super().__init__(model)
        self.smoothing = smoothing
        self.mixup = None
        if mixup:
            mixup = dict({'num_classes': getattr(model, 'num_classes', 1000), 'label_smoothing': smoothing}, **mixup)
            self.mixup = Mixup(**mixup)

    def mixed_inputs(self, batch: dict):
        """(images, targets): mixed images and soft targets with ``mixup``, else the batch's labels."""
        if self.mixup is None:
            return batch['image'], batch['label']
        return self.mixup(batch['image'], batch['label'], batch_rng(batch))

    def forward(self, batch):
        images, target = self.mixed_inputs(batch)
        loss = classification_criterion(target, self.smoothing)(self.run_model(images), target)
        return {'loss': loss}

    @paddle.no_grad()
    def predict(self, batch):
        return {'logits': self.model(batch['image']), 'label': batch['label']}

    def metric_sums(self, batch, metric_cfg: Dict[str, dict]) -> Dict[str, float]:
        """Per-batch sums of the metrics (the evaluator all-reduces and divides by ``count``)."""
        out = self.predict(batch)
        return classification_sums(out['logits'], out['label'], metric_cfg)

    def export_layer(self, softmax: bool = False) -> nn.Layer:
        """The model, or the model followed by a softmax."""
        return _WithSoftmax(self.model) if softmax else self.model


class _WithSoftmax(nn.Layer):
    """Inference graph returning class probabilities."""

    def __init__(self, model: nn.Layer):
        super().__init__()
        self.model = model

    def forward(self, x):
        return F.softmax(self.model(x), axis=-1)
