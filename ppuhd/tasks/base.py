"""The Task contract between models and the one trainer (see docs in DESIGN.md).

The trainer calls ``out = task(batch)``, back-propagates ``out['loss']`` and logs
every other key; ``predict`` returns what metrics consume; ``export_layer``
returns the inference graph. ``task.model`` is the only layer that is
optimized, EMA'd, checkpointed and exported.
"""
from typing import Dict, Optional

import paddle
import paddle.nn as nn


class Task(nn.Layer):
    """Base class of every task.

    Args:
        model: the network to train.
    """

    def __init__(self, model: nn.Layer):
        super().__init__()
        self.model = model
        self._wrapped: Optional[nn.Layer] = None

    def wrap_model(self, wrapper: nn.Layer) -> None:
        """Route training forwards through ``wrapper`` (e.g. ``paddle.DataParallel(task.model)``).

        Stored outside the sublayer tree so checkpoints keep the plain names.
        """
        object.__setattr__(self, '_wrapped', wrapper)

    @property
    def wrapper(self) -> Optional[nn.Layer]:
        """The training wrapper set by ``wrap_model``, if any."""
        return self._wrapped

    def run_model(self, *args):
        return (self._wrapped or self.model)(*args)

    def forward(self, batch: Dict[str, paddle.Tensor]) -> Dict[str, paddle.Tensor]:
        raise NotImplementedError

    @paddle.no_grad()
    def predict(self, batch: Dict[str, paddle.Tensor]) -> Dict[str, paddle.Tensor]:
        raise NotImplementedError

    def export_layer(self) -> nn.Layer:
        raise NotImplementedError
