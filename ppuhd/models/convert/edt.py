"""EDT: official raw state dicts (fenglinglwb/EDT, e.g. ``SRx2_EDTB_Div2kFlickr2K.pth``) -> ``ppuhd`` EDT.

The released files are raw state dicts (``test_sample.py`` loads them with ``strict=True``),
official module names without prefix: ``head_sr_x2.*``, ``body.layers.L.residual_group.blocks.B.*``,
``tail_dn_g15.*``, ... Module names are the Paddle ones, with these changes:

- Every Linear weight (``qkv``, ``proj``, ``mlp.fc1``, ``mlp.fc2``) is transposed ([out, in] -> [in, out]).
- The persistent ``attn_mask_h`` / ``attn_mask_v`` buffers of the shifted (odd) blocks hold the masks of
  the 48 x 48 training size; each one is checked to equal the mask recomputed here
  (:func:`ppuhd.models.edt.shift_window_mask`), then left out: the model recomputes the masks for the size
  of every input, as the official blocks do for any other size. A missing, extra or different mask is an
  error, as in the official strict load.
- ``edt_b_dn`` / ``edt_b_dr`` take a file of any one level (``head_dn_g15`` / ``_g25`` / ``_g50``,
  ``head_dr_L`` / ``_H``, and their tails) and name its branch ``head_dn`` / ``head_dr``; the level is
  logged. A file of several levels is a multi-task model (``edt_b_dn_g15g25g50``, ``edt_b_dr_lshs``).

Anything else that does not fit the target model is an error (``common.check_and_build``).
"""
import re
from typing import Dict, Tuple

import numpy as np

from ...utils.logger import get_logger
from ..edt import WINDOW, shift_window_mask
from .common import StateDict, register_converter

LINEAR_WEIGHT = re.compile(r'\.(qkv|proj|mlp\.fc1|mlp\.fc2)\.weight$')
MASK = re.compile(r'^(?P<block>body\.layers\.\d+\.residual_group\.blocks\.(?P<index>\d+))\.attn_mask_(?P<axis>[hv])$')
BLOCK = re.compile(r'^(body\.layers\.\d+\.residual_group\.blocks\.(\d+))\.norm1\.weight$')
BRANCH = re.compile(r'^(head|tail)_(?P<task>(?:sr_x\d+|dn_g\d+|dr_[A-Za-z]+))\.')
TRAIN_SIZE = 48  # configs: MODEL.IMAGE_SIZE = DATASET.INPUT_SIZE = 48, the body's input_resolution
MASK_REASON = ('attention mask of the 48x48 training size, equal to the recomputed one; '
               'the model recomputes the masks for every input size')


def _expected_mask(axis: str) -> np.ndarray:
    window = WINDOW if axis == 'h' else WINDOW[::-1]
    return shift_window_mask(TRAIN_SIZE, TRAIN_SIZE, window).numpy()


def check_masks(state: StateDict) -> Dict[str, str]:
    """Validate the official attention-mask buffers; returns {key: reason} of the masks to leave out."""
    blocks = {m.group(1): int(m.group(2)) for m in map(BLOCK.match, state) if m}
    expected = {f'{block}.attn_mask_{axis}' for block, index in blocks.items() if index % 2 for axis in 'hv'}
    found = {k for k in state if k.endswith(('.attn_mask_h', '.attn_mask_v'))}
    problems = []
    if expected - found:
        problems.append(f'missing attention masks of shifted blocks: {sorted(expected - found)[:6]}')
    if found - expected:
        problems.append(f'attention masks where no shifted block is: {sorted(found - expected)[:6]}')
    reference = {}
    for key in sorted(found & expected):
        axis = MASK.match(key).group('axis')
        if axis not in reference:
            reference[axis] = _expected_mask(axis)
        value = np.asarray(state[key])
        if value.shape != reference[axis].shape or not np.array_equal(value, reference[axis]):
            problems.append(f'{key} {list(value.shape)} is not the 6x24-window mask of a 48x48 map '
                            f'{list(reference[axis].shape)}: the file is from another window or training size')
    if problems:
        raise ValueError('EDT attention masks do not match:\n  ' + '\n  '.join(problems))
    return {k: MASK_REASON for k in sorted(found)}


def convert_edt_keys(state: StateDict, rename: Dict[str, str] = None) -> Tuple[StateDict, Dict[str, str]]:
    """Transpose Linear weights, check and leave out the masks, rename branches (``{'dn_g25': 'dn'}``)."""
    dropped = check_masks(state)
    converted = {}
    for key, value in state.items():
        if key in dropped:
            continue
        match = BRANCH.match(key)
        if match and rename and match.group('task') in rename:
            task = match.group('task')
            key = f'{match.group(1)}_{rename[task]}.{key[match.end():]}'
        converted[key] = np.ascontiguousarray(np.asarray(value).T) if LINEAR_WEIGHT.search(key) else value
    return converted, dropped


def _single_level(state: StateDict, kind: str, arch: str) -> Dict[str, str]:
    """``{'dn_g25': 'dn'}`` for a file of exactly one level of ``kind``; errors naming what was found."""
    levels = sorted({m.group('task') for m in map(BRANCH.match, state) if m and m.group('task').startswith(kind)})
    multi = {'dn': 'edt_b_dn_g15g25g50', 'dr': 'edt_b_dr_lshs'}[kind]
    if len(levels) != 1:
        found = ', '.join(levels) or 'none'
        raise ValueError(f'{arch} converts a file with one {kind} branch (head_{kind}_<level>.*); this one has '
                         f'{found}. A file with several levels is a multi-task model: --arch {multi}')
    get_logger().info('%s: level %s (head_%s / tail_%s -> head_%s / tail_%s)', arch, levels[0].split('_', 1)[1],
                      levels[0], levels[0], kind, kind)
    return {levels[0]: kind}


def _register(arch: str, level_kind: str = ''):
    def convert(state: StateDict) -> Tuple[StateDict, Dict[str, str]]:
        return convert_edt_keys(state, _single_level(state, level_kind, arch) if level_kind else None)
    convert.__doc__ = f'Official EDT weights of {arch}' + (f' (any one {level_kind} level)' if level_kind else '')
    register_converter(arch)(convert)


for _arch in ('edt_t_sr_x2', 'edt_t_sr_x3', 'edt_t_sr_x4', 'edt_s_sr_x2', 'edt_b_sr_x2', 'edt_b_sr_x3',
              'edt_b_sr_x4', 'edt_l_sr_x2', 'edt_t_sr_x2x3x4', 'edt_b_sr_x2x3x4', 'edt_b_sr_x2x3_dn_g15',
              'edt_b_dn_g15g25g50', 'edt_b_dr_lshs'):
    _register(_arch)
_register('edt_b_dn', 'dn')
_register('edt_b_dr', 'dr')
