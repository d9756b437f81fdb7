"""IPT: huawei-noah/Pretrained-IPT state dicts -> ``ppuhd`` IPT (``ppuhd.models.ipt``).

The released files (``IPT_sr2.pt``, ``IPT_sr3.pt``, ``IPT_sr4.pt``, ``IPT_denoise30.pt``,
``IPT_denoise50.pt``, ``IPT_derain.pt``, ``IPT_pretrain.pt``) are raw state dicts of the official
``ipt`` module (no prefix). Module names are kept; the changes are:

- every Linear weight is transposed (PyTorch ``[out, in]``, Paddle ``[in, out]``): ``linear_encoding``,
  ``mlp_head``, ``linear1`` / ``linear2`` and ``nn.MultiheadAttention``'s packed ``in_proj_weight``
  ``[3E, E]`` and ``out_proj.weight``; the embeddings ``body.query_embed.weight`` and
  ``body.position_encoding.pe.weight`` are tables and stay as they are;
- the int64 buffer ``body.position_encoding.position_ids`` is checked to be ``arange(256)`` (the table is
  read in order) and dropped; the frozen ``MeanShift`` convs are kept as they are.

Strict about the task: the official ``load_state_dict(strict=False)`` loads a x2 file into a x4 model
and leaves the second upsampler random (12.4 dB, huawei-noah/Pretrained-IPT issue #37). Here the tasks
a file holds are read from its tail shapes and a file of another task is refused with a sentence naming
it. Denoising and deraining files have the same tensors, so they cannot be told apart.

From the pre-training file (six heads and tails, ``query_embed`` ``[6, 147456]``) ``--arch ipt_pretrain``
loads everything, and a single-task arch takes that task's head, tail and ``query_embed`` row out of it
(fine-tuning initialisation): ``ipt_sr_x2`` / ``ipt_sr_x3`` / ``ipt_sr_x4`` / ``ipt_derain``, and
``ipt_denoise_30`` / ``ipt_denoise_50`` (weights for the ``ipt_denoise`` model) for its two denoising
branches. Branch order: ``ppuhd.models.ipt.PRETRAIN_TASKS``.
"""
import re
from typing import Dict, List, Tuple

import numpy as np

from ...registry import MODELS
from .. import ipt  # noqa: F401  (register the target archs)
from ..ipt import PRETRAIN_TASKS, task_scale
from .common import StateDict, expected_shapes, register_converter

EMBEDDINGS = ('body.query_embed.weight', 'body.position_encoding.pe.weight')
POSITION_IDS = 'body.position_encoding.position_ids'
QUERY = 'body.query_embed.weight'
SCALE_NAMES = {1: 'denoising or deraining (scale 1; their checkpoints have the same tensors)',
               2: 'x2 super-resolution', 3: 'x3 super-resolution', 4: 'x4 super-resolution'}
# arch -> the task it needs (the model's task, or the pre-training branch taken out)
ARCH_TASK = {'ipt_sr_x2': 'sr_x2', 'ipt_sr_x3': 'sr_x3', 'ipt_sr_x4': 'sr_x4', 'ipt_denoise': 'denoise',
             'ipt_denoise_30': 'denoise_30', 'ipt_denoise_50': 'denoise_50', 'ipt_derain': 'derain'}
SINGLE_ARCH = {2: 'ipt_sr_x2', 3: 'ipt_sr_x3', 4: 'ipt_sr_x4', 1: 'ipt_denoise or ipt_derain'}


def _indices(state: StateDict, prefix: str) -> List[int]:
    return sorted({int(m.group(1)) for m in (re.match(rf'{prefix}\.(\d+)\.', k) for k in state) if m})


def tail_scales(state: StateDict) -> List[int]:
    """Upscaling factor of every tail of an official IPT state dict, from its upsampler convs.

    ``common.Upsampler``: x2 = one conv 64 -> 256 (``tail.i.0.0``), x4 = two (``tail.i.0.0``, ``tail.i.0.2``),
    x3 = one conv 64 -> 576, scale 1 = none.
    """
    if QUERY not in state:
        raise ValueError(f'Not an IPT state dict: no {QUERY} (first keys: {list(state)[:5]})')
    scales = []
    for i in _indices(state, 'tail'):
        first, second = state.get(f'tail.{i}.0.0.weight'), f'tail.{i}.0.2.weight' in state
        if first is None:
            scales.append(1)
        elif second:
            scales.append(4)
        else:
            scales.append(3 if first.shape[0] == 9 * first.shape[1] else 2)
    heads, queries = len(_indices(state, 'head')), state[QUERY].shape[0]
    if not (len(scales) == heads == queries):
        raise ValueError(f'IPT state dict with {heads} heads, {len(scales)} tails and {queries} task embeddings '
                         f'({QUERY} {list(state[QUERY].shape)}): they must agree')
    return scales


def describe(scales: List[int]) -> str:
    """What an IPT checkpoint holds, in words."""
    if len(scales) == 1:
        return f'the single-task IPT for {SCALE_NAMES[scales[0]]}'
    return f'a {len(scales)}-task IPT (tail scales {scales}; the pre-training model IPT_pretrain.pt has 6)'


def _check_position_ids(state: StateDict) -> None:
    ids = state.get(POSITION_IDS)
    if ids is None:
        return
    tokens = state['body.position_encoding.pe.weight'].shape[0]
    if not np.array_equal(np.asarray(ids).reshape(-1), np.arange(tokens)):
        raise ValueError(f'{POSITION_IDS} is not arange({tokens}): this IPT reads its position table out of order, '
                         'which ppuhd does not support')


def _to_paddle(key: str, value: np.ndarray) -> np.ndarray:
    linear = value.ndim == 2 and key not in EMBEDDINGS
    return np.ascontiguousarray(value.T) if linear else value


def _select_branch(state: StateDict, index: int, task: str) -> Tuple[StateDict, Dict[str, str]]:
    """Head, tail and task embedding ``index`` of a multi-task file as a single-task state dict."""
    converted, dropped = {}, {}
    for key, value in state.items():
        match = re.match(r'(head|tail)\.(\d+)\.(.*)', key)
        if match and int(match.group(2)) != index:
            branch = PRETRAIN_TASKS[int(match.group(2))]
            dropped[f'{match.group(1)}.{match.group(2)}'] = (f'pre-training branch {branch}, not taken out for '
                                                            f'{task} (nor its {QUERY} row)')
            continue
        if match:
            key = f'{match.group(1)}.0.{match.group(3)}'
        converted[key] = value[index:index + 1] if key == QUERY else value
    return converted, dropped


def make_converter(arch: str):
    """The converter of ``arch`` (every IPT arch shares this logic; only the wanted task differs)."""
    want = ARCH_TASK.get(arch)

    def convert_ipt(state: StateDict) -> Tuple[StateDict, Dict[str, str]]:
        scales = tail_scales(state)
        _check_position_ids(state)
        held = describe(scales)
        if want is None:  # ipt_pretrain
            if scales != [task_scale(t) for t in PRETRAIN_TASKS]:
                hint = f': convert it with --arch {SINGLE_ARCH[scales[0]]}' if len(scales) == 1 else ''
                raise ValueError(f'This checkpoint holds {held}, not the six-task pre-training model{hint}')
            converted, dropped = dict(state), {}
        elif len(scales) == 1:
            if scales[0] != task_scale(want):
                raise ValueError(f'This checkpoint holds {held}, not the IPT for {SCALE_NAMES[task_scale(want)]} '
                                 f'({arch}): convert it with --arch {SINGLE_ARCH[scales[0]]}')
            converted, dropped = dict(state), {}
        elif scales == [task_scale(t) for t in PRETRAIN_TASKS]:
            if want == 'denoise':
                raise ValueError('This checkpoint is the six-task pre-training model, which has two denoising branches '
                                 '(noise 30 and noise 50): take one out with --arch ipt_denoise_30 or --arch '
                                 'ipt_denoise_50 (weights for the ipt_denoise model)')
            converted, dropped = _select_branch(state, PRETRAIN_TASKS.index(want), want)
        else:
            raise ValueError(f'This checkpoint holds {held}, which is neither a single-task IPT nor the pre-training '
                             f'model: ppuhd cannot take {arch} out of it')
        if POSITION_IDS in converted:
            del converted[POSITION_IDS]
            dropped[POSITION_IDS] = 'int64 arange(256) buffer: the position table is read in order'
        return {k: _to_paddle(k, v) for k, v in converted.items()}, dropped
    return convert_ipt


for _arch in [name for name in MODELS if name.startswith('ipt_')]:
    register_converter(_arch)(make_converter(_arch))
for _arch in ('ipt_denoise_30', 'ipt_denoise_50'):
    register_converter(_arch, expected_shapes=lambda: expected_shapes('ipt_denoise'))(make_converter(_arch))
