"""Trainer loop, evaluator, checkpoints, optimizers and schedules, EMA, AMP.

The builders live in their layers (``ppuhd.tasks.builder``, ``ppuhd.data.builder``,
``ppuhd.utils.device``, ``ppuhd.utils.weights``) and are re-exported here for the tools.
"""
from ..data.builder import build_dataset
from ..tasks.builder import build_model, build_task
from ..utils.device import setup_device
from ..utils.weights import load_weights as load_model_weights
from .evaluator import evaluate
from .trainer import Trainer, train

__all__ = ['Trainer', 'train', 'evaluate', 'build_model', 'build_task', 'build_dataset', 'load_model_weights',
           'setup_device']
