"""Trainer loop, evaluator, checkpoints, optimizers and schedules, EMA, AMP."""
from .evaluator import evaluate
from .trainer import Trainer, build_dataset, build_task, load_model_weights, setup_device, train

__all__ = ['Trainer', 'train', 'evaluate', 'build_task', 'build_dataset', 'load_model_weights', 'setup_device']
