"""Top-k accuracy and mean loss as per-batch SUMS, so ranks can all-reduce them before dividing."""
from typing import Dict, List, Optional, Sequence

import numpy as np

import paddle
import paddle.nn.functional as F

CLS_HIGHER_IS_BETTER = {'top1': True, 'top5': True, 'loss': False}


def topk_correct(logits: paddle.Tensor, labels: paddle.Tensor, k: int) -> float:
    """Number of samples whose label is among the ``k`` highest logits (k is capped at the class count)."""
    k = min(k, logits.shape[-1])
    top = paddle.topk(logits, k, axis=-1)[1]
    return float((top == labels.astype(top.dtype).reshape([-1, 1])).any(axis=-1).astype('float64').sum())


def classification_sums(logits: paddle.Tensor, labels: paddle.Tensor, cfg: Dict[str, dict]) -> Dict[str, float]:
    """Sums of the metrics in ``cfg`` over a batch, plus ``count``.

    ``cfg`` maps a name to its arguments: ``{k: int}`` is top-k accuracy in percent
    (``top1: {k: 1}``); ``loss: {}`` is the cross-entropy of the integer labels.
    """
    sums = {'count': float(labels.shape[0])}
    for name, kwargs in cfg.items():
        if name == 'loss':
            sums[name] = float(F.cross_entropy(logits, labels.astype('int64'), reduction='sum'))
        elif 'k' in (kwargs or {}):
            sums[name] = 100.0 * topk_correct(logits, labels, int(kwargs['k']))
        else:
            raise KeyError(f"eval.metrics.{name}: a classification metric is 'loss' or has a 'k' "
                           f"(e.g. top1: {{k: 1}}), got {kwargs!r}")
    return sums


def topk_entries(scores: np.ndarray, k: int, class_names: Optional[Sequence[str]] = None) -> List[dict]:
    """Top-``k`` of one image's scores, best first: ``[{'index', 'score', 'label'}]`` (the label is the class
    name when there are names, else the index); shared by ``tools/infer.py`` and the deploy predictor."""
    names = list(class_names or [])
    order = np.argsort(-np.asarray(scores), kind='stable')[:k]
    return [{'index': int(i), 'score': float(scores[i]), 'label': names[i] if i < len(names) else str(int(i))}
            for i in order]
