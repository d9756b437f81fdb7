"""The golden file format: one compressed ``.npz`` per case, with inputs and official outputs but no weights.

    meta         JSON (a 0-d unicode array): case, arch, seed, rule_version, entries ([key, shape, dtype, kind] per
                 tensor of the official checkpoint, see ``rule.py``), official (source provenance: repository,
                 commit, file hashes, versions), command, official_params / reachable_params, noise_floor
    input.NAME   uint8 NCHW images (or float32 arrays), fed to both models through ``rule.to_model_input``
    output.NAME  float32 outputs of the official model
    fixed.KEY    official values of the entries of kind ``fixed``; a value equal to an earlier one (EDT's attention
                 masks, the same in every shifted block) is stored once: meta ``fixed_same`` maps KEY to that key

Read with ``allow_pickle=False``: nothing in a golden file can run code.
"""
import hashlib
import json
from dataclasses import dataclass, field
from typing import Dict

import numpy as np

from . import rule

PARTS = ('input', 'output', 'fixed')


@dataclass
class Golden:
    """A golden file's contents (see the module docstring)."""

    meta: dict
    inputs: Dict[str, np.ndarray] = field(default_factory=dict)
    outputs: Dict[str, np.ndarray] = field(default_factory=dict)
    fixed: Dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def entries(self):
        return rule.entries_from_json(self.meta['entries'])

    def state_dict(self) -> Dict[str, np.ndarray]:
        """The official-format weights this file's outputs were computed with (``rule.state_dict``)."""
        if self.meta['rule_version'] != rule.VERSION:
            raise ValueError(f"{self.meta['case']}: made with weight rule v{self.meta['rule_version']}, this is "
                             f'v{rule.VERSION}; regenerate it (docs/reproduction.md)')
        return rule.state_dict(self.entries, self.meta['seed'], self.fixed)


def read(path: str) -> Golden:
    golden = Golden(meta={})
    parts = {'input': golden.inputs, 'output': golden.outputs, 'fixed': golden.fixed}
    with np.load(path, allow_pickle=False) as data:
        for name in data.files:
            part, _, key = name.partition('.')
            if name == 'meta':
                golden.meta = json.loads(str(data[name]))
            elif part in parts and key:
                parts[part][key] = data[name]
            else:
                expected = ', '.join(p + '.*' for p in PARTS)
                raise ValueError(f'{path}: unexpected array {name!r} (expected meta, {expected})')
    if not golden.meta:
        raise ValueError(f'{path}: no meta record; not a golden file')
    for key, same in golden.meta.get('fixed_same', {}).items():
        if same not in golden.fixed:
            raise ValueError(f'{path}: fixed.{key} is recorded as equal to fixed.{same}, which is not in the file')
        golden.fixed[key] = golden.fixed[same]
    return golden


def _stored_once(fixed: Dict[str, np.ndarray]):
    """(the fixed values to store, {key: the stored key with an equal value} for the others)."""
    stored, same, first = {}, {}, {}
    for key, value in fixed.items():
        value = np.asarray(value)
        identity = (str(value.dtype), value.shape, hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest())
        if identity in first:
            same[key] = first[identity]
        else:
            first[identity] = key
            stored[key] = value
    return stored, same


def write(path: str, golden: Golden) -> None:
    fixed, same = _stored_once(golden.fixed)
    meta = {**golden.meta, 'fixed_same': same} if same else golden.meta
    arrays = {'meta': np.array(json.dumps(meta, indent=None, sort_keys=True))}
    for part, mapping in zip(PARTS, (golden.inputs, golden.outputs, fixed)):
        arrays.update({f'{part}.{k}': np.asarray(v) for k, v in mapping.items()})
    np.savez_compressed(path, **arrays)


def rel_l2(ours: np.ndarray, ref: np.ndarray) -> float:
    """||ours - ref|| / ||ref||, the parity measure (< 1e-4 passes)."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    if ours.shape != ref.shape:
        raise ValueError(f'shape {ours.shape} vs official {ref.shape}')
    return float(np.linalg.norm(ours - ref) / np.linalg.norm(ref))
