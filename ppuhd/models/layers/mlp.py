"""Transformer MLP (timm ``layers/mlp.py``): Linear -> activation -> dropout -> Linear -> dropout."""
from typing import Optional, Type

import paddle.nn as nn


class Mlp(nn.Layer):
    """Two-layer perceptron of a transformer block.

    Args:
        in_features: input width.
        hidden_features: hidden width (default: ``in_features``).
        out_features: output width (default: ``in_features``).
        act_layer: activation class; ``nn.GELU`` is the exact (erf) GELU, as in timm.
        drop: dropout after the activation and after the second Linear.
    """

    def __init__(self, in_features: int = 768, hidden_features: Optional[int] = None,
                 out_features: Optional[int] = None, act_layer: Type[nn.Layer] = nn.GELU, drop: float = 0.0):
        super().__init__()
        hidden_features = hidden_features or in_features
        out_features = out_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = act_layer()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden_features, out_features)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x):
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))
