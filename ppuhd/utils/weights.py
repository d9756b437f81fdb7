"""Reading Paddle weight files, and the one strict loader of model weights.

Every ``.pdparams`` / ``.pdckpt`` the project reads goes through :func:`read_paddle_file`;
every set of model weights (a model's ``model_weights``, a distillation teacher, the VGG19 of
the perceptual loss, the LPIPS network) through :func:`load_weights`, which refuses any
missing, unexpected or mis-shaped tensor in one message.
"""
import os
from typing import Any, Callable, Optional

import paddle

from .state_dict import describe_mismatch


def read_paddle_file(path: str, what: str = 'weights', hint: str = '') -> Any:
    """The object saved in a Paddle file (``paddle.save``); FileNotFoundError naming ``what`` and ``hint``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}' + (f' ({hint})' if hint else ''))
    return paddle.load(path)


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
