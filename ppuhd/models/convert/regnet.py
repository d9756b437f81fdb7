"""RegNetY: timm / deit state dicts -> ``ppuhd.models.regnet``.

DeiT's teacher ``regnety_160-a5fe301d.pth`` was written by timm 0.3.2 (``{'model': sd}``);
current timm checkpoints of these models carry the same names (checked: identical key
lists for ``regnety_160`` in timm 0.3.2 and 1.0), so one map serves both:

- BatchNorm ``running_mean`` / ``running_var`` -> Paddle ``_mean`` / ``_variance``;
- ``num_batches_tracked`` (a step counter, no Paddle equivalent) is dropped and reported;
- the classifier ``head.fc.weight`` is transposed ([out, in] -> [in, out]); convs are unchanged.
"""
from typing import Dict, Tuple

import numpy as np

from .. import regnet  # noqa: F401  (register the target archs)
from .common import StateDict, register_converter

BN_RENAMES = {'running_mean': '_mean', 'running_var': '_variance'}


def convert_regnet_state(state: StateDict) -> Tuple[StateDict, Dict[str, str]]:
    converted, dropped = {}, {}
    for src_key, value in state.items():
        key = src_key.removeprefix('module.')
        prefix, _, leaf = key.rpartition('.')
        if leaf == 'num_batches_tracked':
            dropped[src_key] = 'BatchNorm step counter (no Paddle equivalent)'
            continue
        if leaf in BN_RENAMES:
            key = f'{prefix}.{BN_RENAMES[leaf]}'
        elif leaf == 'weight' and value.ndim == 2:
            value = np.ascontiguousarray(value.T)
        converted[key] = value
    return converted, dropped


for _arch in regnet.REGNETY_CFGS:
    register_converter(_arch)(convert_regnet_state)
