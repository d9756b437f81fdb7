"""Reading Paddle weight files without running code from them, and the one strict loader of model weights.

Every ``.pdparams`` / ``.pdckpt`` the project reads goes through :func:`read_paddle_file`;
every set of model weights (a model's ``model_weights``, a distillation teacher, the VGG19 of
the perceptual loss, the LPIPS network) through :func:`load_weights`, which refuses any
missing, unexpected or mis-shaped tensor in one message.

``paddle.save`` writes a pickle, and ``paddle.load`` unpickles it: a crafted file can name any
Python callable (``os.system``, ``exec``) and have it called during loading. Here the pickle is
read by :class:`SafeUnpickler`, which resolves only what Paddle itself writes for tensors and
state: numpy arrays, dtypes and scalars, ``OrderedDict``, tuples and sets, Paddle's RNG state,
and the one ``eval('data', {'data': array})`` form Paddle uses for dense tensors. Any other
reference refuses the file before it is called (:class:`UnsafeWeightsError`). Files you trust
that hold other objects load with the opt-in ``PPUHD_TRUST_PICKLE=1`` (or ``trust_pickle=True``,
``tools/convert_weights.py --trust-pickle``), which uses ``paddle.load`` itself.
"""
import codecs
import collections
import os
import pickle
from typing import Any, Callable, Dict, Optional

import numpy as np
import paddle

from .state_dict import describe_mismatch

TRUST_PICKLE_ENV = 'PPUHD_TRUST_PICKLE'
# Paddle's own bookkeeping keys in a saved state dict (paddle/framework/io.py, io_utils.py).
_NAME_TABLE = 'StructuredToParameterName@@'
_BIG_PARAMS = 'UnpackBigParamInfor@@'  # typos: disable-line


class UnsafeWeightsError(ValueError):
    """A weight file whose pickle references something other than tensors, arrays and plain containers."""


class _ArrayClass:
    """Stands for ``numpy.ndarray`` in a pickle: accepted only as ``_reconstruct``'s first argument, so the
    file cannot call ``ndarray(shape)`` itself (an allocation of any size)."""


# numpy's own constructors, whatever module path this numpy version pickles them under
_NP_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_NP_SCALAR = np.float32(0).__reduce__()[0]


def _reconstruct(cls, shape, dtype):
    """numpy's pickled-array constructor, for the empty array that the pickle's BUILD step then fills."""
    if cls is not _ArrayClass or tuple(shape) != (0,):
        raise UnsafeWeightsError('numpy._reconstruct with arguments numpy never writes')
    return _NP_RECONSTRUCT(np.ndarray, (0,), dtype)


def _latin1_bytes(text, encoding='latin1'):
    """``_codecs.encode``: how protocol-2 pickles (older Paddle files) store bytes; latin-1 text only."""
    if not isinstance(text, str) or codecs.lookup(encoding).name != 'iso8859-1':
        raise UnsafeWeightsError('_codecs.encode of something other than latin-1 text')
    return text.encode('latin-1')


def _dense_tensor_data(expression, env):
    """Paddle pickles a ``DenseTensor`` as ``eval('data', {'data': array})``: only that exact form is evaluated."""
    if expression != 'data' or not isinstance(env, dict) or set(env) != {'data'} \
            or not isinstance(env['data'], np.ndarray):
        raise UnsafeWeightsError("builtins.eval of an expression other than Paddle's dense-tensor form")
    return env['data']


def _generator_state():
    from paddle.base.libpaddle import GeneratorState  # the state of paddle.get_rng_state(), plain integers
    return GeneratorState


_NUMPY = {'_reconstruct': _reconstruct, 'scalar': _NP_SCALAR}
_ALLOWED: Dict[tuple, Callable[[], Any]] = {
    ('collections', 'OrderedDict'): lambda: collections.OrderedDict,
    ('builtins', 'tuple'): lambda: tuple,
    ('builtins', 'set'): lambda: set,
    ('builtins', 'frozenset'): lambda: frozenset,
    ('builtins', 'eval'): lambda: _dense_tensor_data,
    ('_codecs', 'encode'): lambda: _latin1_bytes,
    ('numpy', 'ndarray'): lambda: _ArrayClass,
    ('numpy', 'dtype'): lambda: np.dtype,
    ('paddle.base.libpaddle', 'GeneratorState'): _generator_state,
    **{(module, name): (lambda fn=fn: fn) for module in ('numpy.core.multiarray', 'numpy._core.multiarray')
       for name, fn in _NUMPY.items()},
}


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the names in ``_ALLOWED``; anything else raises UnsafeWeightsError."""

    def find_class(self, module: str, name: str):
        factory = _ALLOWED.get((module, name))
        if factory is None:
            raise UnsafeWeightsError(f'{module}.{name}')
        return factory()

    def persistent_load(self, pid):
        raise UnsafeWeightsError(f'persistent id {pid!r}')


def _walk(obj, convert):
    """Apply ``convert`` bottom-up through dicts, lists, tuples and sets (as paddle.load's ``_parse_every_object``)."""
    if isinstance(obj, dict):
        for key in list(obj):
            obj[key] = _walk(obj[key], convert)
        return convert(obj)
    if isinstance(obj, list):
        obj[:] = [_walk(v, convert) for v in obj]
        return convert(obj)
    if isinstance(obj, (tuple, set, frozenset)) and not _is_saved_tensor(obj):
        return convert(type(obj)(_walk(v, convert) for v in obj))
    return convert(obj)


def _is_saved_tensor(obj) -> bool:
    """Paddle pickles a Tensor as ``(name, array)``."""
    return isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], str) and isinstance(obj[1], np.ndarray)


def _contains(obj, test) -> bool:
    if test(obj):
        return True
    if isinstance(obj, dict):
        return any(_contains(v, test) for v in obj.values())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return any(_contains(v, test) for v in obj)
    return False


def _to_tensor(array: np.ndarray, name: Optional[str] = None) -> paddle.Tensor:
    tensor = paddle.to_tensor(array)
    if name:
        tensor.name = name
    return tensor


def _as_loaded(obj: Any, return_numpy: bool) -> Any:
    """What ``paddle.load`` returns for this unpickled object (io.py ``load``): the same containers, tensors
    for arrays."""
    if isinstance(obj, dict) and _BIG_PARAMS in obj:  # protocol 2/3 files split arrays over 4 GB into slices
        for key, info in obj.pop(_BIG_PARAMS).items():
            obj[key] = np.concatenate([obj.pop(part) for part in info['slices']]).reshape(info['OriginShape'])
    if isinstance(obj, dict) and _NAME_TABLE in obj:  # a state dict saved by paddle.save: arrays at the top level
        names = obj.pop(_NAME_TABLE)
        if not return_numpy:
            for key, name in names.items():
                if isinstance(obj.get(key), np.ndarray):
                    obj[key] = _to_tensor(obj[key], name)
        return obj
    if _contains(obj, _is_saved_tensor):  # nested state (checkpoints): tensors were saved as (name, array)
        return _walk(obj, lambda v: (v[1] if return_numpy else _to_tensor(v[1], v[0])) if _is_saved_tensor(v) else v)
    if return_numpy:
        return obj
    return _walk(obj, lambda v: _to_tensor(v) if isinstance(v, np.ndarray) else v)


def trust_pickle_from_env() -> bool:
    """True when ``PPUHD_TRUST_PICKLE=1`` opts in to loading trusted files with arbitrary pickled objects."""
    return os.environ.get(TRUST_PICKLE_ENV, '') == '1'


def read_paddle_file(path: str, what: str = 'weights', hint: str = '', return_numpy: bool = False,
                     trust_pickle: Optional[bool] = None) -> Any:
    """The object saved in a Paddle file (``paddle.save``), read without running code from it.

    Args:
        path: a ``.pdparams`` / ``.pdckpt`` / ``.pdopt``.
        what: how errors name the file ("Teacher weights", "Checkpoint", ...).
        hint: what to do when the file is missing.
        return_numpy: numpy arrays instead of tensors (as ``paddle.load(return_numpy=True)``).
        trust_pickle: load with ``paddle.load`` itself, executing whatever the pickle names; default
            ``PPUHD_TRUST_PICKLE=1``. Only for files you trust.

    Raises:
        FileNotFoundError: no such file (names ``what`` and ``hint``).
        UnsafeWeightsError: the pickle references a callable or class that tensors do not need.
        ValueError: not a pickled Paddle file (truncated, corrupt, or another format).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}' + (f' ({hint})' if hint else ''))
    if trust_pickle if trust_pickle is not None else trust_pickle_from_env():
        return paddle.load(path, return_numpy=return_numpy)
    try:
        with open(path, 'rb') as f:
            obj = SafeUnpickler(f, encoding='latin1').load()
    except UnsafeWeightsError as err:
        raise UnsafeWeightsError(
            f'{what} {path} refused: its pickle references {err}, which weight files do not need and which would '
            f'run code while loading (only tensors, arrays and plain containers are read). If you trust the file '
            f'(it comes from you or a known release), load it once with {TRUST_PICKLE_ENV}=1 and re-save it with '
            f'paddle.save(paddle.load(path), path) to get a plain file') from None
    except Exception as err:  # noqa: BLE001 - any unpickling failure means "not a readable Paddle file"
        raise ValueError(f'{what} {path} is not a readable Paddle file (truncated, corrupt, or not written by '
                         f'paddle.save): {type(err).__name__}: {err}') from None
    return _as_loaded(obj, return_numpy)


def load_weights(model: paddle.nn.Layer, path: str, what: str = 'Model weights', hint: str = '',
                 ignore_unexpected: Optional[Callable[[str], bool]] = None) -> None:
    """Strictly load the state dict in ``path`` into ``model``.

    Args:
        model: the layer to fill; a model with ``adapt_state_dict`` (e.g. ViT, which resamples a
            position embedding of another grid) adapts the file's tensors first.
        path: a ``.pdparams``.
        what: how errors name the file ("Teacher weights", ...).
        hint: what to do when the file is missing.
        ignore_unexpected: keys of the file that the model may lack (e.g. VGG19 layers deeper than used).
    """
    state = read_paddle_file(path, what, hint)
    if not isinstance(state, dict):
        raise ValueError(f'{what} {path} holds a {type(state).__name__}, not a state dict')
    if 'model' in state and 'iter' in state and isinstance(state['model'], dict):
        raise ValueError(f'{path} is a training checkpoint, not {what.lower()}: resume it with --resume, or give '
                         'the best_model.pdparams / final_model.pdparams of the run')
    if hasattr(model, 'adapt_state_dict'):
        state = model.adapt_state_dict(state)
    expected = {k: v.shape for k, v in model.state_dict().items()}
    if ignore_unexpected is not None:
        state = {k: v for k, v in state.items() if k in expected or not ignore_unexpected(k)}
    problems = describe_mismatch(state, expected)
    if problems:
        raise ValueError(f'{what} {path} do not match {type(model).__name__}: {problems}')
    model.set_state_dict(state)
