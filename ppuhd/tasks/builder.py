"""Building a Task (and its model) from a resolved config."""
from ..registry import MODELS, TASKS
from ..utils.weights import load_weights

_WEIGHTS_HINT = 'convert official weights with tools/convert_weights.py, or give a best_model.pdparams of a run'


def build_model(cfg: dict):
    """``cfg['model']``, with ``cfg['model_weights']`` loaded strictly when set."""
    model = MODELS.build(cfg['model'])
    if cfg.get('model_weights'):
        load_weights(model, cfg['model_weights'], 'Model weights', _WEIGHTS_HINT)
    return model


def build_task(cfg: dict, inference: bool = False):
    """Model (with optional ``model_weights``) wrapped in its Task.

    ``inference=True`` builds the task without its loss terms, so evaluation and
    inference never need what only training needs (e.g. the VGG19 weights of a
    perceptual loss), plus the task class's ``INFERENCE_OVERRIDES`` (e.g. no teacher).
    """
    model = build_model(cfg)
    task_cfg = dict(cfg['task'], losses=[]) if inference and 'losses' in cfg['task'] else cfg['task']
    if inference:
        task_cfg = dict(task_cfg, **getattr(TASKS.get(task_cfg['type']), 'INFERENCE_OVERRIDES', {}))
    return TASKS.build(task_cfg, model=model)
