"""Loading foreign checkpoints, the converter registry and strict validation.

A converter maps an official state dict (numpy arrays, official names) to Paddle
names and returns the modules it dropped with the reason. ``convert_state_dict``
then checks the result against what the Paddle side expects (the registered
model's ``state_dict()`` or an explicit shape table) and refuses anything that
does not match exactly: nothing is silently dropped, renamed or reshaped.
"""
import os
import pickle
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from ...registry import MODELS
from ...utils.state_dict import describe_mismatch

StateDict = Dict[str, np.ndarray]
Shapes = Dict[str, Tuple[int, ...]]
# A converter returns (paddle state dict, {dropped module prefix in source naming: reason}); every
# source key must end up either converted or under a dropped module.
Converter = Callable[[StateDict], Tuple[StateDict, Dict[str, str]]]

CONVERTERS: Dict[str, Converter] = {}
# Archs that are not registered models (e.g. a loss network) give their expected shapes here.
EXPECTED_SHAPES: Dict[str, Callable[[], Shapes]] = {}

WRAPPER_KEYS = ('model', 'state_dict', 'params')
TORCH_EXTENSIONS = ('.pth', '.pt', '.tar', '.ckpt', '.bin')


def register_converter(arch: str, expected_shapes: Optional[Callable[[], Shapes]] = None):
    """Decorator registering ``fn`` as the converter of ``arch``.

    Args:
        arch: name of the target; a registered model name unless ``expected_shapes`` is given.
        expected_shapes: returns ``{key: shape}`` of the Paddle side when ``arch`` is not a model.
    """
    def decorator(fn: Converter) -> Converter:
        if arch in CONVERTERS:
            raise KeyError(f"converter '{arch}' is already registered by {CONVERTERS[arch].__module__}")
        CONVERTERS[arch] = fn
        if expected_shapes is not None:
            EXPECTED_SHAPES[arch] = expected_shapes
        return fn
    return decorator


def unwrap_state_dict(obj) -> dict:
    """The state dict inside ``{'model': sd}``, ``{'state_dict': sd}``, ``{'params': sd}`` or ``sd`` itself."""
    if not isinstance(obj, dict):
        raise ValueError(f'Expected a state dict (a mapping of names to tensors), got {type(obj).__name__}')
    for key in WRAPPER_KEYS:
        if isinstance(obj.get(key), dict):
            return obj[key]
    return obj


def _torch_to_numpy(value):
    if value.dtype.is_floating_point and value.element_size() < 4:
        value = value.float()  # numpy has no bfloat16, and the Paddle side is float32 anyway
    return value.detach().cpu().numpy()


def load_torch_checkpoint(path: str, trust_pickle: bool = False) -> StateDict:
    """Read a PyTorch checkpoint into ``{name: numpy array}`` (torch is only needed here).

    Args:
        path: ``.pth`` / ``.pt`` / ... file written by ``torch.save``.
        trust_pickle: allow arbitrary pickled objects (``weights_only=False``); only for files you trust.
    """
    try:
        import torch
    except ImportError as err:
        raise ImportError('Converting a PyTorch checkpoint needs torch (CPU build is enough): '
                          '`pip install torch` or `pip install -e .[torch]`') from err
    try:
        obj = torch.load(path, map_location='cpu', weights_only=not trust_pickle)
    except pickle.UnpicklingError as err:
        raise ValueError(f'{path} holds objects other than tensors, so torch refused to unpickle it '
                         f'(weights_only=True). If you trust the file, pass --trust-pickle.') from err
    state = unwrap_state_dict(obj)
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f'{path}: entries that are not tensors: {bad[:10]}')
    return {k: _torch_to_numpy(v) for k, v in state.items()}


def load_npz(path: str) -> StateDict:
    """Read ``np.savez(path, **state_dict)``: a torch-free way to bring weights from any framework."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def load_pdparams(path: str, trust_pickle: bool = False) -> StateDict:
    """Read a Paddle ``.pdparams`` (e.g. a PaddleClas release) as ``{name: numpy array}``, without running
    code from it (``ppuhd.utils.weights.read_paddle_file``; ``trust_pickle`` opts in to ``paddle.load``)."""
    from ...utils.weights import read_paddle_file
    state = read_paddle_file(path, 'Checkpoint', return_numpy=True, trust_pickle=trust_pickle or None)
    state = unwrap_state_dict(state)
    return {k: np.asarray(v) for k, v in state.items()}


def load_safetensors(path: str) -> StateDict:
    """Read a ``.safetensors`` file (timm's hub weights) with numpy only; needs the safetensors package."""
    try:
        from safetensors.numpy import load_file
    except ImportError as err:
        raise ImportError(f'Reading {path} needs the safetensors package: `pip install safetensors`') from err
    return load_file(path)


def load_checkpoint(path: str, trust_pickle: bool = False) -> StateDict:
    """Load ``path`` by extension: ``.npz`` with numpy, ``.pdparams`` with Paddle, ``.safetensors``
    with safetensors, torch formats with torch; pickles (torch, Paddle) only as tensors unless ``trust_pickle``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Checkpoint not found: {path}')
    ext = os.path.splitext(path)[1].lower()
    if ext == '.npz':
        return load_npz(path)
    if ext == '.pdparams':
        return load_pdparams(path, trust_pickle)
    if ext == '.safetensors':
        return load_safetensors(path)
    if ext in TORCH_EXTENSIONS:
        return load_torch_checkpoint(path, trust_pickle)
    raise ValueError(f"Unknown checkpoint extension '{ext}' of {path}: use .npz, .pdparams, .safetensors or one of "
                     f"{TORCH_EXTENSIONS}")


def strip_prefix(state: StateDict, prefix: str) -> StateDict:
    """Remove ``prefix`` (e.g. ``'module.'`` of DataParallel) from every key that has it."""
    return {k.removeprefix(prefix): v for k, v in state.items()}


def check_and_build(converted: StateDict, expected: Shapes) -> StateDict:
    """Validate ``converted`` against ``{key: shape}`` and return it in ``expected`` order as float32.

    Raises one ``ValueError`` listing every missing key, unexpected key and
    shape mismatch, so a broken key map is fixed in one pass.
    """
    problems = describe_mismatch(converted, expected)
    if problems:
        raise ValueError('Converted weights do not match the target:\n' + problems)
    # Paddle models here are float32; an fp16/fp64 source is cast rather than loaded as-is.
    return {k: np.ascontiguousarray(converted[k], dtype=np.float32) for k in expected}


def _shorten(names: List[str], keep: int = 6) -> str:
    more = f', ... ({len(names) - keep} more)' if len(names) > keep else ''
    return ', '.join(names[:keep]) + more


@dataclass
class ConversionReport:
    """What a conversion kept, renamed and dropped (module prefix -> reason), for the CLI to print.

    ``renamed`` does not count stripping the DataParallel ``module.`` prefix.
    """

    arch: str
    kept: int = 0
    kept_params: int = 0
    renamed: int = 0
    dropped: Dict[str, str] = field(default_factory=dict)
    dropped_tensors: int = 0
    dropped_params: int = 0

    def summary(self) -> str:
        lines = [f'{self.arch}: kept {self.kept} tensors ({self.kept_params:,} params), {self.renamed} renamed; '
                 f'dropped {self.dropped_tensors} tensors ({self.dropped_params:,} params) '
                 f'of {len(self.dropped)} unused modules']
        by_reason: Dict[str, List[str]] = {}
        for module, reason in self.dropped.items():
            by_reason.setdefault(reason, []).append(module)
        lines += [f'  {len(modules)} x {reason}: {_shorten(modules)}' for reason, modules in by_reason.items()]
        return '\n'.join(lines)


def expected_shapes(arch: str) -> Shapes:
    """``{key: shape}`` that the converted weights of ``arch`` must have."""
    if arch in EXPECTED_SHAPES:
        return EXPECTED_SHAPES[arch]()
    model = MODELS.get(arch)()
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _under(key: str, modules) -> bool:
    # a dropped entry is a module prefix, or a single key (e.g. BatchNorm's num_batches_tracked,
    # LLFormer's unused ``coefficient``)
    return any(key == module or key.startswith(module + '.') for module in modules)


def convert_state_dict(arch: str, state: StateDict) -> Tuple[StateDict, ConversionReport]:
    """Convert an official state dict of ``arch`` and validate it strictly; see ``CONVERTERS``."""
    if arch not in CONVERTERS:
        raise KeyError(f"No weight converter for '{arch}'. Supported: {', '.join(sorted(CONVERTERS))}")
    converted, dropped = CONVERTERS[arch](state)
    dropped_keys = [k for k in state if _under(k, dropped)]
    if len(converted) + len(dropped_keys) != len(state):
        raise RuntimeError(f"converter '{arch}' lost or merged keys: {len(state)} in, "
                           f'{len(converted)} converted + {len(dropped_keys)} dropped')
    result = check_and_build(converted, expected_shapes(arch))
    renamed = sum(k not in state and f'module.{k}' not in state for k in result)
    report = ConversionReport(arch, kept=len(result), kept_params=sum(v.size for v in result.values()),
                              renamed=renamed, dropped=dropped, dropped_tensors=len(dropped_keys),
                              dropped_params=sum(state[k].size for k in dropped_keys))
    return result, report
