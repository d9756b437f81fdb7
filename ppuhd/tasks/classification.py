"""Image classification (ViT / DeiT training as deit ``main.py`` + ``engine.py``)."""
import os
from typing import Any, Dict, Optional

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..data.cls_transforms import CLS_TRANSFORMS, IMAGENET_MEAN, IMAGENET_STD
from ..data.imagefolder import class_folders
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

    DEPLOY_KIND = 'classification'
    EXPORT_OPTIONS = ('softmax',)

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

    def evaluate_batch(self, batch, metric_cfg: Dict[str, dict]):
        """Per-batch sums of the metrics (the evaluator all-reduces and divides by ``count``); no images.
        Metrics set to null in the config (e.g. the base config's image metrics) are left out."""
        out = self.predict(batch)
        metric_cfg = {k: v for k, v in metric_cfg.items() if v is not None}
        return classification_sums(out['logits'], out['label'], metric_cfg), []

    def export_layer(self, softmax: bool = False) -> nn.Layer:
        """The model, or the model followed by a softmax."""
        return _WithSoftmax(self.model) if softmax else self.model

    def deploy_config(self, cfg: Dict[str, Any], softmax: bool = False) -> Dict[str, Any]:
        """The val transform of the training config (or the model's ``pretrained_cfg``) as deploy runs it."""
        transform = eval_transform(cfg, self.model)
        size = int(transform['img_size'])
        return {
            'input': {'name': 'x', 'dtype': 'float32', 'shape': [None, 3, size, size]},
            'preprocess': {'transform': transform, 'channel_order': 'RGB', 'layout': 'NCHW',
                           'note': 'ppuhd.data.cls_transforms.CLS_TRANSFORMS.build(transform) on the RGB image '
                                   '(PIL), the code the training config evaluates with'},
            'num_classes': int(self.model.num_classes),
            'class_names': class_names(cfg),
            'output': {'name': 'probabilities' if softmax else 'logits',
                       'meaning': f"[batch, num_classes] {'softmax probabilities' if softmax else 'logits'}"},
            'dynamic_shapes': {'min': [1, 3, size, size], 'opt': [8, 3, size, size], 'max': [32, 3, size, size]},
        }


    def deploy_files(self, cfg: Dict[str, Any], infer_cfg: Dict[str, Any]) -> Dict[str, Any]:
        """``inference.yml`` in PaddleClas's deploy format (what its ``deploy/python/predict_cls.py`` and PaddleX
        read: PreProcess transform_ops, PostProcess Topk), generated from the same val transform."""
        transform = CLS_TRANSFORMS.build(infer_cfg['preprocess']['transform'])
        if not hasattr(transform, 'paddleclas_ops'):
            return {}
        topk = {'topk': min(5, int(self.model.num_classes))}
        if infer_cfg.get('class_names'):
            topk['label_list'] = list(infer_cfg['class_names'])
        return {'inference.yml': {'Global': {'model_name': infer_cfg['model']},
                                  'PreProcess': {'transform_ops': transform.paddleclas_ops()},
                                  'PostProcess': {'Topk': topk}}}


def class_names(cfg: Dict[str, Any]) -> Optional[list]:
    """``deploy.class_names`` of the config, else the class folders of its ImageNet-layout val set (the order
    of the labels, ``ImageFolderDataset``), else None."""
    names = (cfg.get('deploy') or {}).get('class_names')
    if names:
        return list(names)
    val = (cfg.get('data') or {}).get('val') or {}
    folder = os.path.join(val.get('root', ''), val.get('split', ''))
    if val.get('type') == 'ImageFolderDataset' and os.path.isdir(folder):
        return class_folders(folder)
    return None


def eval_transform(cfg: Dict[str, Any], model: nn.Layer) -> Dict[str, Any]:
    """``data.val.transform`` of a training config, else the eval transform of the model's ``pretrained_cfg``
    (timm / deit: resize int(size / crop_pct), center crop, mean/std)."""
    transform = ((cfg.get('data') or {}).get('val') or {}).get('transform')
    if transform:
        return dict(transform)
    pretrained = dict(getattr(model, 'pretrained_cfg', {}))
    size = list(pretrained.get('input_size', []))[-2:]
    if len(size) != 2 or size[0] != size[1]:
        raise KeyError('data.val.transform: set the eval transform in the config (the model has no square '
                       'pretrained_cfg.input_size)')
    return {'type': 'ClsEvalTransform', 'img_size': int(size[0]), 'crop_pct': float(pretrained.get('crop_pct', 0.875)),
            'interpolation': pretrained.get('interpolation', 'bicubic'),
            'mean': [float(m) for m in pretrained.get('mean', IMAGENET_MEAN)],
            'std': [float(v) for v in pretrained.get('std', IMAGENET_STD)]}


class _WithSoftmax(nn.Layer):
    """Inference graph returning class probabilities."""

    def __init__(self, model: nn.Layer):
        super().__init__()
        self.model = model

    def forward(self, x):
        return F.softmax(self.model(x), axis=-1)
