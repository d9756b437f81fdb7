"""VGG19 (torchvision layout, as used by UHDFour's perceptual loss) -> Paddle ``features.*``.

Conv weights have the same [out, in, kh, kw] layout in both frameworks, so the
``features.N.*`` tensors are kept unchanged; the classifier is not needed for
perceptual features and is dropped (and listed).
"""
from typing import Tuple

from .common import Shapes, StateDict, register_converter

# torchvision / official networks.VGG19 configuration 'E': conv widths, 'M' = max-pool.
VGG19_CFG = (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M',
             512, 512, 512, 512, 'M')


def vgg19_feature_shapes(cfg: Tuple = VGG19_CFG) -> Shapes:
    """``{features.N.weight/bias: shape}``; index N counts conv, ReLU and pool layers as nn.Sequential does."""
    shapes, index, cin = {}, 0, 3
    for v in cfg:
        if v == 'M':
            index += 1
            continue
        shapes[f'features.{index}.weight'] = (v, cin, 3, 3)
        shapes[f'features.{index}.bias'] = (v,)
        index, cin = index + 2, v
    return shapes


@register_converter('vgg19', expected_shapes=vgg19_feature_shapes)
def convert_vgg19(state: StateDict):
    """Keep ``features.*`` (``module.`` stripped), drop ``classifier.*``."""
    converted, dropped = {}, {}
    for src_key, value in state.items():
        key = src_key.removeprefix('module.')
        if key.startswith('classifier.'):
            dropped[src_key.rsplit('.', 2)[0]] = 'classifier layer, unused by perceptual features'
        else:
            converted[key] = value
    return converted, dropped
