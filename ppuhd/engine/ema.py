"""Exponential moving average of model weights."""
from typing import Dict

import paddle
import paddle.nn as nn


class ModelEMA:
    """shadow = decay * shadow + (1 - decay) * param, after every optimizer step.

    Args:
        model: the model whose floating-point state is averaged (parameters and buffers).
        decay: EMA decay.
    """

    def __init__(self, model: nn.Layer, decay: float = 0.999):
        self.decay = decay
        self.shadow: Dict[str, paddle.Tensor] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @paddle.no_grad()
    def update(self, model: nn.Layer) -> None:
        for key, value in model.state_dict().items():
            if paddle.is_floating_point(value):
                self.shadow[key].set_value(self.decay * self.shadow[key] + (1.0 - self.decay) * value)
            else:
                self.shadow[key].set_value(value)

    def state_dict(self) -> Dict[str, paddle.Tensor]:
        return self.shadow

    def set_state_dict(self, state: Dict[str, paddle.Tensor]) -> None:
        for key, value in state.items():
            self.shadow[key].set_value(value)
