"""Golden parity cases: one small module per converted official model (``tests/golden/cases/<case>.py``).

A case module defines, and imports without torch:

- ``ARCH``: the ppuhd model and its converter (``tools/convert_weights.py --arch ARCH``).
- ``OFFICIAL``: one line naming the official code the outputs come from (recorded in the golden file).
- ``SOURCES``: ``{option: what it must name}`` for the ``make_golden.py`` options the case needs:
  ``official`` (``--official``, a checkout) and/or ``timm`` (``--timm-src``, a folder holding the timm package).
- ``FILES``: ``{source: (relative paths, ...)}`` whose sha256 the golden file records (the code that ran).
- ``INPUTS``: ``{name: NCHW shape}``; ``make_golden.py`` makes uint8 noise images from the seed
  (``rule.image_input``) and both sides see them as float32 in [0, 1] (``rule.to_model_input``).
- optional ``PREFIX`` (default ``''``): what the official checkpoints prepend to the model's state-dict keys
  (``'module.'`` for DataParallel saves), so the converter sees the names a user's file has.
- optional ``FIXED`` (default ``()``): regexes of float keys stored verbatim (``rule.classify``).
- optional ``SEED`` (default 0).
- ``official_model(sources)``: the official ``torch.nn.Module`` (``sources`` maps the ``SOURCES`` options to paths).
- ``official_outputs(net, inputs)``: ``{name: numpy array}`` of the official model on ``{name: torch tensor}``,
  called in eval mode under ``torch.no_grad()``; a case may switch to train mode for more outputs.
- optional ``official_forward(net, inputs)``: the official call (torch tensors in, a tensor or a tuple/list of
  them out) whose outputs decide the reachable parameters (default: ``net`` on the first input), for models that
  do not take one tensor (EDT takes a list, one input per task, through ``test_sample.py``'s padding).
- ``our_outputs(model, inputs)``: the same names from the converted ppuhd model on ``{name: paddle tensor}``,
  called in eval mode under ``paddle.no_grad()``.
- optional ``MISTAKE_INPUTS``: the inputs (a subset, for which ``our_outputs`` returns the outputs it can) that
  ``tests/test_golden.py``'s check that a converter mistake is caught runs on (default: all); for models whose
  forward is slow (EDT-B: its cheapest input).

Adding a model: write its case module, run ``make_golden.py --case NAME ...`` against the official code
(docs/reproduction.md), commit both files; ``tests/test_golden.py`` picks them up.
"""
import importlib
import importlib.util
import os
import sys
from types import ModuleType
from typing import List

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(os.path.dirname(HERE))


def names() -> List[str]:
    """Every case module in this folder."""
    return sorted(f[:-3] for f in os.listdir(HERE) if f.endswith('.py') and not f.startswith('_'))


def load(name: str) -> ModuleType:
    if name not in names():
        raise KeyError(f"no golden case '{name}' in {HERE} (cases: {', '.join(names())})")
    return importlib.import_module(f'{__name__}.{name}')


def import_file(path: str, module_name: str) -> ModuleType:
    """Import an official source file by path (the official repositories are not packages)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'official source not found: {path}')
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def import_timm(timm_src: str, version: str) -> ModuleType:
    """timm ``version`` from ``timm_src``, with the torchvision stand-in and ``torch._six`` shim of
    ``tests/helpers/timm_reference.py`` (timm imports torchvision; timm 0.3.2 imports ``torch._six``)."""
    if not os.path.isdir(os.path.join(timm_src, 'timm')):
        raise FileNotFoundError(f'no timm package in {timm_src} (pip install --no-deps --target DIR timm==VERSION)')
    sys.path.insert(0, os.path.join(TESTS, 'helpers'))
    import timm_reference
    timm_reference._prepare_imports(timm_src)
    import timm
    if not os.path.abspath(timm.__file__).startswith(os.path.abspath(timm_src)):
        raise RuntimeError(f'imported timm from {timm.__file__}, not from {timm_src}')
    if timm.__version__ != version:
        raise RuntimeError(f'{timm_src} holds timm {timm.__version__}; this case is defined on timm {version} '
                           f'(pip install --no-deps --target DIR timm=={version})')
    return timm


def as_dict(output_names, result) -> dict:
    """``{name: numpy}`` from a model result: one tensor, or a tuple matched to ``output_names`` in order."""
    result = result if isinstance(result, (tuple, list)) else (result,)
    if len(result) != len(output_names):
        raise ValueError(f'{len(result)} outputs for names {output_names}')
    return {name: value.detach().numpy() for name, value in zip(output_names, result)}  # torch or paddle
