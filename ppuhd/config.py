"""YAML configs with ``_base_`` inheritance and strict ``-o key=value`` overrides.

* ``_base_`` is a path or a list of paths, relative to the file naming them;
  later bases and then the file itself win. Dicts deep-merge, lists replace.
* ``-o a.b.c=value``: the value goes through ``ast.literal_eval`` (a bare word
  stays a string). The key must exist; list items are addressed by index
  (``task.losses.0.weight=2``). An unknown key is an error naming the nearest keys.
"""
import ast
import copy
import difflib
import os
from typing import Any, Dict, Iterable, List, Tuple

import yaml

BASE_KEY = '_base_'


def _merge(base: Dict, new: Dict) -> Dict:
    out = copy.deepcopy(base)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# Shipped configs inherit at most two levels deep (DESIGN.md, checked by the tests); one more level lets a
# user's config build on any of them. A deeper chain, or a cycle, is a one-line error.
MAX_BASE_DEPTH = 3


def load_config(path: str, _chain: Tuple[str, ...] = ()) -> Dict[str, Any]:
    """Read a YAML config and resolve its ``_base_`` chain (at most ``MAX_BASE_DEPTH`` levels, no cycles)."""
    chain = _chain + (os.path.abspath(path),)
    if chain[-1] in _chain or len(chain) > MAX_BASE_DEPTH + 1:
        what = 'cycle' if chain[-1] in _chain else f'chain deeper than {MAX_BASE_DEPTH} levels'
        raise ValueError(f"Config {chain[0]}: _base_ {what}: {' -> '.join(chain)}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Config file not found: {path}")
    with open(path, 'r', encoding='utf-8') as f:
        cfg = yaml.safe_load(f) or {}
    if not isinstance(cfg, dict):
        raise ValueError(f"Config {path} must hold a mapping at the top level")
    bases = cfg.pop(BASE_KEY, [])
    if isinstance(bases, str):
        bases = [bases]
    merged: Dict[str, Any] = {}
    for base in bases:
        base_path = os.path.normpath(os.path.join(os.path.dirname(path), base))
        merged = _merge(merged, load_config(base_path, chain))
    return _merge(merged, cfg)


def _all_keys(node: Any, prefix: str = '') -> List[str]:
    keys = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        full = f"{prefix}{key}"
        keys.append(full)
        keys.extend(_all_keys(value, full + '.'))
    return keys


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def apply_overrides(cfg: Dict[str, Any], overrides: Iterable[str]) -> Dict[str, Any]:
    """Apply ``key.path=value`` strings to a copy of ``cfg``; unknown keys are errors."""
    cfg = copy.deepcopy(cfg)
    for item in overrides or []:
        if '=' not in item:
            raise ValueError(f"Override '{item}' must look like key.path=value")
        dotted, text = item.split('=', 1)
        parts = dotted.strip().split('.')
        node = cfg
        for i, part in enumerate(parts):
            is_last = i == len(parts) - 1
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                part = int(part)
            elif not (isinstance(node, dict) and part in node):
                prefix = '.'.join(parts[:i])
                close = difflib.get_close_matches(dotted, _all_keys(cfg), n=3, cutoff=0.5)
                hint = f" Nearest valid keys: {', '.join(close)}." if close else ""
                raise KeyError(f"Override key '{dotted}' does not exist in the config "
                               f"('{parts[i]}' not found under '{prefix or '<root>'}').{hint}")
            if is_last:
                node[part] = _parse_value(text.strip())
            else:
                node = node[part]
    return cfg


def dump_config(cfg: Dict[str, Any], path: str) -> None:
    """Write the resolved config as YAML."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        yaml.safe_dump(cfg, f, sort_keys=False, default_flow_style=False)


def get_config(path: str, overrides: Iterable[str] = ()) -> Dict[str, Any]:
    """Load ``path`` and apply ``overrides``."""
    return apply_overrides(load_config(path), overrides)


def add_config_args(parser) -> None:
    """The ``-c CONFIG`` and repeatable ``-o key=value`` options every tool takes."""
    parser.add_argument('-c', '--config', required=True, help='YAML config file')
    parser.add_argument('-o', '--override', action='append', default=[], metavar='KEY=VALUE',
                        help='override a config value, e.g. -o train.total_iters=100 (repeatable)')
