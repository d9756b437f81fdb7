"""Supervised contrastive loss over token features (IPT's pre-training).

Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020, as the official MindSpore IPT port uses it
(mindspore-ai/models ``research/cv/IPT/src/loss.py`` ``SupConLoss``, ``contrast_mode='all'``; weighted 0.1
next to the L1 in ``src/utils.py`` ``MyTrain``): the features of one image's patches (IPT's body tokens) are
positives of each other, those of the other images in the batch are negatives.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..registry import LOSSES


@LOSSES.register()
class SupConLoss(nn.Layer):
    """``features [B, V, D]`` (V views of each of B samples) -> scalar.

    Every one of the B*V L2-normalized features is an anchor; its positives are the other V - 1 views of the same
    sample, and the softmax runs over all B*V - 1 others at ``temperature``. The loss is the mean over anchors of
    ``-(temperature / base_temperature)`` x the mean log-probability of its positives (the port adds 1e-8 inside
    the log of the denominator; kept).

    Args:
        temperature: softmax temperature (0.07, the paper's and the port's).
        base_temperature: the loss is scaled by ``temperature / base_temperature`` (0.07: 1).
    """

    def __init__(self, temperature: float = 0.07, base_temperature: float = 0.07):
        super().__init__()
        if temperature <= 0 or base_temperature <= 0:
            raise ValueError(f'SupConLoss temperatures must be > 0, got {temperature}, {base_temperature}')
        self.temperature, self.base_temperature = temperature, base_temperature

    def forward(self, features: paddle.Tensor) -> paddle.Tensor:
        if features.ndim != 3 or features.shape[0] < 2:
            raise ValueError(f'SupConLoss takes [batch >= 2, views, dim] features, got {features.shape}: negatives '
                             'come from the other samples of the batch')
        b, v = features.shape[0], features.shape[1]
        # view-major order as the port's concat of unbind(features, 1): row i * b + j is view i of sample j
        flat = F.normalize(features, axis=2).transpose([1, 0, 2]).reshape([v * b, -1])
        logits = paddle.matmul(flat, flat, transpose_y=True) / self.temperature
        logits = logits - logits.max(axis=1, keepdim=True).detach()
        sample = paddle.arange(v * b) % b
        not_self = 1.0 - paddle.eye(v * b, dtype=logits.dtype)
        positive = (sample.unsqueeze(1) == sample.unsqueeze(0)).astype(logits.dtype) * not_self
        log_prob = logits - paddle.log((paddle.exp(logits) * not_self).sum(axis=1, keepdim=True) + 1e-8)
        mean_log_prob_pos = (positive * log_prob).sum(axis=1) / positive.sum(axis=1)
        return -(self.temperature / self.base_temperature) * mean_log_prob_pos.mean()
