"""The Task contract between models and the one trainer (see docs in DESIGN.md).

The trainer calls ``out = task(batch)``, back-propagates ``out['loss']`` and logs
every other key; ``predict`` returns what metrics consume; ``export_layer``
returns the inference graph. ``task.model`` is the only layer that is
optimized, EMA'd, checkpointed and exported.
"""
from typing import Any, Dict, List, Optional, Sequence

import paddle
import paddle.nn as nn


class Task(nn.Layer):
    """Base class of every task.

    Besides training (``forward``) and prediction (``predict``), a task owns its evaluation
    (``evaluate_batch``) and its deployment: ``export_layer`` (the inference graph) and
    ``deploy_config`` (what ``infer_cfg.yml`` says: input, preprocessing, output), so the
    evaluator and export never branch on task types.

    Args:
        model: the network to train.
    """

    DEPLOY_KIND = ''  # the ``task`` field of infer_cfg.yml, which tells deploy how to run the model
    EXPORT_OPTIONS: Sequence[str] = ()  # keyword options of export_layer / deploy_config

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

    def evaluate_batch(self, batch: Dict[str, Any], metric_cfg: Dict[str, dict]):
        """``(sums, images)``: metric sums over the batch plus ``'count'``, and ``(name, arrays, values)`` of
        each image for callers that log images (empty when the task has none)."""
        raise NotImplementedError

    def metric_names(self, metric_cfg: Dict[str, dict]) -> List[str]:
        """Sorted names of what ``evaluate_batch`` sums (besides ``count``); metrics set to null are left out."""
        return sorted(n for n, kw in metric_cfg.items() if kw is not None)

    def eval_batch_size(self, requested: int) -> int:
        """Samples per evaluation batch (image-to-image tasks evaluate images of any size one by one)."""
        return requested

    def check_export_options(self, options: Dict[str, Any]) -> None:
        """ValueError for export options this task does not have (export calls it before the two methods below)."""
        unknown = sorted(set(options) - set(self.EXPORT_OPTIONS))
        if unknown:
            raise ValueError(f'{type(self).__name__} has no export option {unknown} (it has '
                             f'{list(self.EXPORT_OPTIONS) or "none"}); e.g. --softmax is for classifiers only')

    def export_layer(self, **options) -> nn.Layer:
        raise NotImplementedError

    def deploy_files(self, cfg: Dict[str, Any], infer_cfg: Dict[str, Any]) -> Dict[str, Any]:
        """Other deploy descriptions written next to the model, ``{file name: YAML content}`` (e.g. the
        ``inference.yml`` PaddleClas / PaddleX deploy reads); none by default."""
        return {}

    def deploy_config(self, cfg: Dict[str, Any], **options) -> Dict[str, Any]:
        """The task's part of infer_cfg.yml: ``input`` (name, dtype, shape with None for dynamic dims),
        ``preprocess``, ``output`` and anything deploy needs to run it, from the training config ``cfg``."""
        raise NotImplementedError
