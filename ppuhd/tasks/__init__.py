"""Tasks: what the trainer optimizes (see ``base.Task``)."""
from .base import Task
from . import enhancement  # noqa: F401  (registers EnhancementTask)

__all__ = ['Task']
from . import classification, distillation, multitask  # noqa: E402,F401  (register the other tasks)
