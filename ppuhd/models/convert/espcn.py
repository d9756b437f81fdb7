"""ESPCN: yjn870/ESPCN-pytorch checkpoints (``espcn_x3.pth``: a raw state dict) -> ``ppuhd`` ESPCN.

yjn870's ``models.py`` names (``first_part.0``, ``first_part.2``, ``last_part.0``) are the
Paddle names and every tensor is a conv (same [out, in, kh, kw] layout), so the keys pass
through unchanged; ``common.check_and_build`` refuses a file of another scale (the last conv
has ``scale ** 2`` outputs) or with missing or extra tensors. ``test.py`` loads with the same
strictness (``KeyError`` on an unknown name).
"""
from typing import Dict, Tuple

from .common import StateDict, register_converter


def convert_espcn(state: StateDict) -> Tuple[StateDict, Dict[str, str]]:
    """Keys unchanged (a DataParallel ``module.`` prefix removed); nothing dropped."""
    return {k.removeprefix('module.'): v for k, v in state.items()}, {}


for _scale in (2, 3, 4):
    register_converter(f'espcn_x{_scale}')(convert_espcn)
