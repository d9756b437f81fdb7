"""Distilled DeiT-Ti at 224: facebookresearch/deit ``models.py`` ``DistilledVisionTransformer`` on timm 0.3.2.

Outputs: eval mode, the average of the two heads' logits (``models.py`` ``forward``); train mode, the
``(cls, dist)`` logit pair the distillation loss takes (ours with ``set_distilled_training(True)``).
Dropout and drop path are 0 in this configuration, so train mode is deterministic.
"""
import os
import sys

from . import import_timm

ARCH = 'deit_tiny_distilled_patch16_224'
OFFICIAL = 'facebookresearch/deit models.py deit_tiny_distilled_patch16_224() on timm==0.3.2'
SOURCES = {'official': 'a checkout of https://github.com/facebookresearch/deit',
           'timm': 'a folder holding the timm 0.3.2 package (pip install --no-deps --target DIR timm==0.3.2)'}
FILES = {'official': ('models.py',), 'timm': ('timm/models/vision_transformer.py',)}
INPUTS = {'x': (1, 3, 224, 224)}


def deit_model(sources, arch):
    """``arch`` from deit's ``models.py`` (it imports timm, so timm comes first)."""
    import_timm(sources['timm'], '0.3.2')
    if not os.path.isfile(os.path.join(sources['official'], 'models.py')):
        raise FileNotFoundError(f"no models.py in {sources['official']} (a facebookresearch/deit checkout)")
    sys.path.insert(0, sources['official'])
    import models
    return getattr(models, arch)()


def official_model(sources):
    return deit_model(sources, ARCH)


def official_outputs(net, inputs):
    out = {'logits': net(inputs['x']).numpy()}
    net.train()
    out['train_cls'], out['train_dist'] = (t.numpy() for t in net(inputs['x']))
    net.eval()
    return out


def our_outputs(model, inputs):
    out = {'logits': model(inputs['x']).numpy()}
    model.train()
    model.set_distilled_training(True)
    out['train_cls'], out['train_dist'] = (t.numpy() for t in model(inputs['x']))
    model.set_distilled_training(False)
    model.eval()
    return out
