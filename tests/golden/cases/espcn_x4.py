"""ESPCN x4: official ``ESPCN(scale_factor=4)`` of yjn870/ESPCN-pytorch ``models.py``; see ``_espcn_official``."""
from functools import partial

from . import _espcn_official as espcn

SCALE = 4
ARCH = f'espcn_x{SCALE}'
OFFICIAL = f'yjn870/ESPCN-pytorch models.py ESPCN(scale_factor={SCALE})'
SOURCES = {'official': espcn.SOURCE}
FILES = {'official': espcn.FILES}
INPUTS = {'x': (1, 1, 13, 10)}
official_model = partial(espcn.official_model, scale=SCALE)
official_outputs = our_outputs = espcn.outputs
