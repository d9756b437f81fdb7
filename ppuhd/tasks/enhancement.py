"""Image-to-image training and prediction (low-light enhancement, super-resolution, restoration).

Everything size-related comes from the model's ``image_io`` (``ppuhd.inference.ImageIO``):
who pads and to which multiple, the output scale.
"""
import copy
from typing import Dict, List, Optional, Sequence

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..inference import image_io_of, make_tiling, predict_padded, tiled_predict
from ..registry import LOSSES, TASKS
from ..utils.logger import get_logger
from .base import Task

class _LossTerm(nn.Layer):
    """One weighted term: ``weight * loss(outputs[output], resize(target, target_scale))``."""

    def __init__(self, cfg: dict):
        super().__init__()
        cfg = copy.deepcopy(cfg)
        self.name = cfg.pop('name', None) or cfg['type'].lower()
        self.weight = float(cfg.pop('weight', 1.0))
        self.output = cfg.pop('output', 'pred')
        self.target_scale = cfg.pop('target_scale', None)
        for key in ('enabled', 'note'):
            cfg.pop(key, None)
        self.loss = LOSSES.build(cfg)

    def forward(self, outputs: Dict[str, paddle.Tensor], target: paddle.Tensor) -> paddle.Tensor:
        if self.target_scale is not None:
            # as the official UHDFour training: F.interpolate(gt, scale_factor=s, mode='bilinear')
            target = F.interpolate(target, scale_factor=self.target_scale, mode='bilinear', align_corners=False)
        return self.weight * self.loss(outputs[self.output], target)


@TASKS.register()
class EnhancementTask(Task):
    """Train an image-to-image model on ``{'lq', 'gt'}`` batches.

    Args:
        model: the network; it returns one tensor or a tuple named by ``output_names``.
        losses: loss terms, each ``{type, weight, output, target_scale, name, enabled, note, **loss_kwargs}``:
            ``output`` names the model output it uses, ``target_scale`` resizes the target
            bilinearly; ``enabled: false`` keeps a term in the recipe but leaves it out (logged with ``note``).
            Empty for a task that only predicts.
        output_names: names of the model's outputs, in order; the first is the prediction.
        tiling: ``None`` predicts on the whole (padded) image; otherwise tiled, memory-bounded
            prediction (``ppuhd.inference.make_tiling``), e.g. ``{preset: official_uhd}`` or
            ``{tile: [720, 1280], stride: [360, 640], blend: average}``.
    """

    def __init__(self, model: nn.Layer, losses: List[dict], output_names: Sequence[str] = ('pred',),
                 tiling: Optional[dict] = None):
        super().__init__(model)
        self.output_names = list(output_names)
        self.image_io = image_io_of(model)
        self.tiling = make_tiling(tiling, self.image_io)
        logger = get_logger()
        terms = []
        for cfg in losses:
            if cfg.get('enabled', True):
                terms.append(_LossTerm(cfg))
            else:
                logger.info("Loss term '%s' (%s, weight %s) is left out: %s", cfg.get('name', cfg['type']),
                            cfg['type'], cfg.get('weight', 1.0), cfg.get('note', 'disabled in the config'))
        self.terms = nn.LayerList(terms)
        for term in self.terms:
            if term.output not in self.output_names:
                raise KeyError(f"Loss term '{term.name}' uses output '{term.output}', but the model's "
                               f"outputs are {self.output_names}")

    def _named_outputs(self, out) -> Dict[str, paddle.Tensor]:
        out = out if isinstance(out, (tuple, list)) else (out,)
        return dict(zip(self.output_names, out))

    def forward(self, batch):
        if not self.terms:
            raise ValueError('This EnhancementTask has no enabled loss term (built for inference, or every term '
                             'disabled in task.losses): it can predict but not train')
        outputs = self._named_outputs(self.run_model(batch['lq']))
        result = {f'loss_{term.name}': term(outputs, batch['gt']) for term in self.terms}
        result['loss'] = paddle.add_n(list(result.values()))
        return result

    def _main_output(self, x: paddle.Tensor) -> paddle.Tensor:
        return self._named_outputs(self.model(x))[self.output_names[0]]

    def _whole_image(self, x: paddle.Tensor) -> paddle.Tensor:
        """The main output for any H x W: the model pads itself, or is padded here (the one padding rule)."""
        io = self.image_io
        if io.pads_itself:
            return self._main_output(x)
        return predict_padded(self._main_output, x, io.size_multiple, io.pad_mode, io.scale)

    @paddle.no_grad()
    def predict(self, batch):
        if self.tiling is None:
            pred = self._whole_image(batch['lq'])
        else:
            pred = paddle.to_tensor(tiled_predict(lambda t: self._whole_image(paddle.to_tensor(t)).numpy(),
                                                  batch['lq'].numpy(), self.tiling))
        return {'pred': pred, 'target': batch.get('gt'), 'input': batch['lq']}

    def export_layer(self) -> nn.Layer:
        """The inference graph: the model's export variant (``model.deploy_layer()``, the same parameters in a
        formulation rewritten for static graphs, e.g. UHDFour's) or the model itself, padded as ``predict``."""
        deploy = getattr(self.model, 'deploy_layer', None)
        return _WholeImage(deploy() if deploy else self.model, self.image_io)


class _WholeImage(nn.Layer):
    """The main output of ``model`` for any H x W: padded and cropped as in ``EnhancementTask.predict``."""

    def __init__(self, model: nn.Layer, image_io):
        super().__init__()
        self.model, self.image_io = model, image_io

    def _main(self, x):
        out = self.model(x)  # the first output is the prediction (EnhancementTask.output_names)
        return out[0] if isinstance(out, (tuple, list)) else out

    def forward(self, x):
        io = self.image_io
        if io.pads_itself:
            return self._main(x)
        return predict_padded(self._main, x, io.size_multiple, io.pad_mode, io.scale)
