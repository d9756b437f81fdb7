"""The seeded-weight rule of the golden parity files: an official-format state dict from its key list and a seed.

A golden file (``tests/golden/<case>.npz``, written by ``make_golden.py`` from an official checkout) holds no
weights. For every tensor of the official checkpoint it holds the name (as the official checkpoint spells it),
the shape, the dtype and a *kind*; ``state_dict`` turns that list and a seed into the same numbers everywhere:
in ``make_golden.py``, which loads them into the official PyTorch model and records its outputs, and in
``tests/test_golden.py``, which writes them as an ``.npz`` and converts them with ``tools/convert_weights.py``
as a user would. numpy only (no torch), so the test runs anywhere.

Numbers: tensor ``key`` draws from PCG64 seeded by ``SeedSequence([seed, w0, w1, w2, w3])``, the ``w`` being the
first four little-endian 32-bit words of ``sha256(key)``; raw 64-bit outputs ``u`` become uniform floats in
[0, 1) as ``(u >> 11) * 2**-53``. That is NumPy's ``Generator.random()`` written out: the bit generator and
SeedSequence are fixed algorithms, while NumPy allows itself to change its distribution code between
versions. Values are computed in float64 and cast to the tensor's dtype (float32 for every model so far).

Kinds (``classify`` picks one per tensor from the official model as its code initialises it; the file stores
the choice, so the test does not need the official code):

- ``weight``: U(-a, a), a = 1 / sqrt(fan_in), fan_in = prod(shape[1:]) as torch counts it for [out, in, k...]
  layouts (PyTorch's default range for conv and linear weights): conv and linear weights, tokens, position
  embeddings. Larger weights (e.g. variance-preserving ones) make UHDFour's outputs ~50x its inputs and
  ill-conditioned (1e-3 moves under 1-ulp input noise).
- ``scale``:  U(0.5, 1.5): tensors the official code initialises to a nonzero constant, i.e. multipliers
  (norm weights, LayerScale, attention temperatures, LLFormer's ``fac`` and ``coefficient_*``).
- ``shift``:  U(-0.2, 0.2): biases, norm biases, BatchNorm ``running_mean`` and any other 1-D tensor.
- ``var``:    U(0.5, 1.5): BatchNorm ``running_var`` (must stay positive).
- ``fixed``:  the official values, stored in the golden file: integer buffers (``num_batches_tracked``, index
  tables) and float tensors a case declares constant (not learned), which our model may rebuild
  rather than load.

Scales and shifts away from 1 and 0 make a swapped scale/bias or mean/variance visible in the outputs.
"""
import hashlib
import re
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np

# Bump when a change of this file changes the numbers: golden files record the version they were made with.
VERSION = 1
KINDS = ('weight', 'scale', 'shift', 'var', 'fixed')
# (key, shape, dtype, kind) as stored in a golden file
Entry = Tuple[str, Tuple[int, ...], str, str]


def uniform01(seed: int, key: str, shape: Sequence[int]) -> np.ndarray:
    """float64 uniform numbers in [0, 1) of ``shape``, a function of ``(seed, key)`` only (see module docstring)."""
    words = np.frombuffer(hashlib.sha256(key.encode('utf-8')).digest()[:16], dtype='<u4')
    bits = np.random.PCG64(np.random.SeedSequence([int(seed), *map(int, words)]))
    raw = bits.random_raw(int(np.prod(shape, dtype=np.int64)))
    return ((raw >> np.uint64(11)).astype(np.float64) * 2.0 ** -53).reshape(tuple(shape))


def fan_in(shape: Sequence[int]) -> int:
    """Inputs per output of a torch-layout weight ([out, in, k...]): prod(shape[1:])."""
    return int(np.prod(shape[1:], dtype=np.int64)) if len(shape) >= 2 else 1


def values(seed: int, key: str, shape: Sequence[int], dtype: str, kind: str) -> np.ndarray:
    """The tensor ``key`` of kind ``kind`` (not ``fixed``: those come from the golden file)."""
    u = uniform01(seed, key, shape)
    if kind == 'weight':
        out = (2.0 * u - 1.0) / np.sqrt(fan_in(shape))
    elif kind in ('scale', 'var'):
        out = 0.5 + u
    elif kind == 'shift':
        out = 0.4 * u - 0.2
    else:
        raise ValueError(f"{key}: kind '{kind}' has no generated values (known: {', '.join(KINDS[:-1])})")
    return out.astype(np.dtype(dtype))


def classify(key: str, initial: np.ndarray, fixed_patterns: Iterable[str] = ()) -> str:
    """The kind of tensor ``key`` from its official initial value (see module docstring).

    Args:
        key: the tensor's name in the official checkpoint.
        initial: its value as the official constructor initialises it.
        fixed_patterns: regular expressions (``re.search``) of keys to store verbatim.
    """
    if not np.issubdtype(initial.dtype, np.floating):
        return 'fixed'
    if any(re.search(pattern, key) for pattern in fixed_patterns):
        return 'fixed'
    leaf = key.rsplit('.', 1)[-1]
    if leaf == 'running_var':
        return 'var'
    if leaf == 'running_mean':
        return 'shift'
    flat = initial.reshape(-1)
    if flat.size and flat[0] != 0 and np.all(flat == flat[0]):
        return 'scale'
    if initial.ndim >= 2 and fan_in(initial.shape) > 1:
        return 'weight'
    return 'shift'


def state_dict(entries: Sequence[Entry], seed: int, fixed: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """The official-format state dict of ``entries`` (checkpoint names, torch layouts) for ``seed``.

    Args:
        entries: ``(key, shape, dtype, kind)`` per tensor, in checkpoint order.
        seed: the golden file's seed.
        fixed: the values of the ``fixed`` entries, by key.
    """
    out: Dict[str, np.ndarray] = {}
    for key, shape, dtype, kind in entries:
        if kind == 'fixed':
            if key not in fixed:
                raise KeyError(f'{key} is a fixed entry but its value is not in the golden file')
            value = np.asarray(fixed[key])
            if tuple(value.shape) != tuple(shape) or str(value.dtype) != dtype:
                raise ValueError(f'{key}: stored value is {value.dtype}{list(value.shape)}, '
                                 f'entry says {dtype}{list(shape)}')
            out[key] = value
        else:
            out[key] = values(seed, key, shape, dtype, kind)
    return out


def image_input(seed: int, name: str, shape: Sequence[int]) -> np.ndarray:
    """A uint8 NCHW image of uniform noise for input ``name``; models see it as ``to_model_input`` gives it."""
    return np.floor(uniform01(seed, f'input.{name}', shape) * 256).astype(np.uint8)


def to_model_input(image: np.ndarray) -> np.ndarray:
    """What both frameworks feed the model: uint8 images as float32 in [0, 1] (the image contract);
    float32 inputs unchanged."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / np.float32(255)
    if image.dtype == np.float32:
        return image
    raise TypeError(f'golden inputs are uint8 images or float32 arrays, got {image.dtype}')


def entries_from_json(rows: List[list]) -> List[Entry]:
    """Entries as read back from a golden file's JSON metadata."""
    return [(key, tuple(shape), dtype, kind) for key, shape, dtype, kind in rows]
