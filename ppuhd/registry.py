"""A small decorator-based registry (after BasicSR ``utils/registry.py``).

Components are registered explicitly by the modules that define them and
looked up by name; an unknown name is an error that lists what exists.
Nothing is ever ``eval``-ed.
"""
import copy
import difflib
from typing import Any, Callable, Dict, Optional


class Registry:
    """Maps names to classes or factory functions.

    Args:
        name: what the registry holds, used in error messages ("model", "loss", ...).
    """

    def __init__(self, name: str):
        self.name = name
        self._obj_map: Dict[str, Callable] = {}

    def register(self, obj: Optional[Callable] = None, name: Optional[str] = None):
        """Register ``obj`` under ``name`` (default: its ``__name__``); usable as a decorator."""
        if obj is None:
            return lambda fn: self.register(fn, name)
        key = name or obj.__name__
        if key in self._obj_map:
            raise KeyError(f"{self.name} '{key}' is already registered by {self._obj_map[key].__module__}")
        self._obj_map[key] = obj
        return obj

    def get(self, name: str) -> Callable:
        if name not in self._obj_map:
            close = difflib.get_close_matches(name, self._obj_map, n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise KeyError(f"Unknown {self.name} '{name}'.{hint} Registered {self.name}s: "
                           f"{', '.join(sorted(self._obj_map))}")
        return self._obj_map[name]

    def build(self, cfg: Dict[str, Any], **extra) -> Any:
        """Build ``cfg['type']`` with the other keys (and ``extra``) as keyword arguments."""
        if not isinstance(cfg, dict) or 'type' not in cfg:
            raise KeyError(f"A {self.name} config must be a dict with a 'type' key, got {cfg!r}")
        kwargs = copy.deepcopy(cfg)
        obj = self.get(kwargs.pop('type'))
        kwargs.update(extra)
        return obj(**kwargs)

    def __contains__(self, name: str) -> bool:
        return name in self._obj_map

    def __iter__(self):
        return iter(sorted(self._obj_map))

    def __len__(self) -> int:
        return len(self._obj_map)

    def __repr__(self) -> str:
        return f"Registry({self.name}: {', '.join(sorted(self._obj_map))})"


MODELS = Registry('model')
LOSSES = Registry('loss')
TASKS = Registry('task')
DATASETS = Registry('dataset')
