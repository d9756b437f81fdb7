"""ViT / DeiT: timm or deit state dicts (and PaddleClas ``.pdparams``) -> ``ppuhd`` ViT / DeiT.

Sources, all with timm's parameter names, which ``ppuhd.models.vit`` keeps:

- deit releases (``deit_*.pth``): ``{'model': state_dict}`` in PyTorch layout;
- timm checkpoints (``.pth`` / ``pytorch_model.bin``): a raw state dict in PyTorch layout;
- PaddleClas DeiT / ViT ``.pdparams``: the same names, already in Paddle layout.

PyTorch stores a Linear weight as [out, in], Paddle as [in, out]: every 2-D ``.weight``
(qkv, proj, fc1, fc2, head, head_dist) is transposed; patch conv, biases, LayerNorms and
tokens are unchanged. The layout is detected from ``blocks.0.attn.qkv.weight`` ([3D, D] in
PyTorch, [D, 3D] in Paddle), so Paddle-layout files are not transposed again.

PaddleClas ``ViT_small_patch16_224`` is NOT ViT-S/DeiT-S: it is the OLD timm ``vit_small``
(depth 8, width 768, 8 heads, MLP ratio 3, no qkv bias), for which ppuhd has no model;
converting it is refused with that explanation instead of a list of shape mismatches.
"""
import re
from typing import Dict, Tuple

import numpy as np

from ...registry import MODELS
from .. import deit, vit  # noqa: F401  (register the target archs)
from .common import StateDict, register_converter

QKV_KEY = 'blocks.0.attn.qkv.weight'


def is_torch_layout(state: StateDict) -> bool:
    """True for PyTorch-layout Linear weights, False for Paddle layout (see module docstring)."""
    if QKV_KEY not in state:
        raise ValueError(f'Not a ViT/DeiT state dict: no {QKV_KEY} (first keys: {list(state)[:5]})')
    rows, cols = state[QKV_KEY].shape
    if rows == 3 * cols:
        return True
    if cols == 3 * rows:
        return False
    raise ValueError(f'{QKV_KEY} has shape {(rows, cols)}, neither [3D, D] (PyTorch) nor [D, 3D] (Paddle)')


def _depth(state: StateDict) -> int:
    return len({m.group(1) for m in (re.match(r'blocks\.(\d+)\.', k) for k in state) if m})


def refuse_old_vit_small(state: StateDict) -> None:
    """Raise a clear error for the old timm ViT-S (PaddleClas ``ViT_small_patch16_224``)."""
    width = min(state[QKV_KEY].shape)
    if width == 768 and _depth(state) == 8 and 'blocks.0.attn.qkv.bias' not in state:
        raise ValueError('This is the OLD timm vit_small (PaddleClas ViT_small_patch16_224: depth 8, width 768, '
                         'no qkv bias), not ViT-S/DeiT-S (depth 12, width 384). ppuhd has no model for it; use '
                         'deit_small_patch16_224 / vit_small_patch16_224 weights instead.')


def convert_vit_state(state: StateDict) -> Tuple[StateDict, Dict[str, str]]:
    """Strip a DataParallel ``module.`` prefix and transpose Linear weights of PyTorch-layout files."""
    state = {k.removeprefix('module.'): v for k, v in state.items()}
    transpose = is_torch_layout(state)
    refuse_old_vit_small(state)
    converted = {k: (np.ascontiguousarray(v.T) if transpose and k.endswith('.weight') and v.ndim == 2 else v)
                 for k, v in state.items()}
    return converted, {}


for _arch in [name for name in MODELS if name.startswith(('vit_', 'deit_'))]:
    register_converter(_arch)(convert_vit_state)
