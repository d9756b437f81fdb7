"""ESPCN x3: official ``ESPCN(scale_factor=3)`` of yjn870/ESPCN-pytorch ``models.py``; see ``_espcn_official``.

A batch of two 17 x 17 inputs, the LR patch size of ``prepare.py``.
"""
from functools import partial

from . import _espcn_official as espcn

SCALE = 3
ARCH = f'espcn_x{SCALE}'
OFFICIAL = f'yjn870/ESPCN-pytorch models.py ESPCN(scale_factor={SCALE})'
SOURCES = {'official': espcn.SOURCE}
FILES = {'official': espcn.FILES}
INPUTS = {'x': (2, 1, 17, 17)}
official_model = partial(espcn.official_model, scale=SCALE)
official_outputs = our_outputs = espcn.outputs
