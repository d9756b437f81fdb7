"""yjn870/ESPCN-pytorch @ab84ee1 ``models.py`` for the golden cases ``espcn_x{2,3,4}``.

``train.py`` saves raw state dicts (``first_part.0``, ``first_part.2``, ``last_part.0``). The network maps Y to Y:
the inputs are one-channel uint8 noise images; the outputs are the raw forward (``test.py`` clamps afterwards).
"""
import os

from . import import_file

SOURCE = 'a checkout of https://github.com/yjn870/ESPCN-pytorch'
FILES = ('models.py',)


def official_model(sources, scale: int):
    return import_file(os.path.join(sources['official'], 'models.py'), 'official_espcn').ESPCN(scale_factor=scale)


def outputs(net, inputs):
    """The official call and ours alike: the model on ``x``."""
    return {'y': net(inputs['x']).numpy()}
