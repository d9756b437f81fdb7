"""ViT-Ti/16 at 224: timm 1.0.31 ``timm.create_model('vit_tiny_patch16_224')``, eval-mode logits.

timm checkpoints are raw state dicts in PyTorch layout (Linear weights [out, in], transposed by the converter).
"""
from . import import_timm

ARCH = 'vit_tiny_patch16_224'
OFFICIAL = "timm==1.0.31 timm.create_model('vit_tiny_patch16_224')"
SOURCES = {'timm': 'a folder holding the timm 1.0.31 package (pip install --no-deps --target DIR timm==1.0.31)'}
FILES = {'timm': ('timm/models/vision_transformer.py',)}
INPUTS = {'x': (1, 3, 224, 224)}


def official_model(sources):
    return import_timm(sources['timm'], '1.0.31').create_model(ARCH)


def official_outputs(net, inputs):
    return {'logits': net(inputs['x']).numpy()}


our_outputs = official_outputs  # same call: eval-mode logits
