"""DeiT-Ti at 224: facebookresearch/deit ``models.py`` ``deit_tiny_patch16_224()`` on timm 0.3.2 (deit's pin).

deit releases ``{'model': state_dict}`` files in PyTorch layout; this is timm 0.3.2's ``VisionTransformer``,
the code deit trained and evaluated with. At the same seed its outputs equal ``vit_tiny_patch16_224``'s on
timm 1.0.31 (same keys, so same weights), so this case takes another seed.
"""
from .deit_tiny_distilled_patch16_224 import FILES, SOURCES, deit_model  # noqa: F401

ARCH = 'deit_tiny_patch16_224'
OFFICIAL = 'facebookresearch/deit models.py deit_tiny_patch16_224() on timm==0.3.2'
INPUTS = {'x': (1, 3, 224, 224)}
SEED = 1  # see the module docstring


def official_model(sources):
    return deit_model(sources, ARCH)


def official_outputs(net, inputs):
    return {'logits': net(inputs['x']).numpy()}


our_outputs = official_outputs  # same call: eval-mode logits
