"""IPT x3 through the official test-time chop on sizes whose edge strips split at half pixels.

As ``ipt_sr_x2`` (``--scale 3``). ``image`` is 65 x 67: ``(65 - 48) % 12 = 5`` and ``(67 - 48) % 12 = 7``, so
``forward_chop``'s seams fall at ``(48 - cut) / 2 * 3`` = 64.5 and 61.5 output pixels, where its
``int(... + 0.5)`` split takes the edge strip from the next pixel; two grid tiles per side, so the overlap
averaging, the top-left overwrite and both edge strips are all exercised.
"""
from . import ipt_sr_x2
from .ipt_sr_x2 import FILES, FIXED, SOURCES, official_outputs, our_outputs  # noqa: F401

ARCH = 'ipt_sr_x3'
ARGV = ('--scale', '3')
OFFICIAL = 'huawei-noah/Pretrained-IPT model/__init__.py Model(option.args: --scale 3).forward_chop, model/ipt.py ipt'
INPUTS = {'tile': (1, 3, 48, 48), 'image': (1, 3, 65, 67)}


def official_model(sources):
    return ipt_sr_x2.official_model(sources, ARGV)
