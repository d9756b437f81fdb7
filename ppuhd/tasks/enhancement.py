"""Image-to-image training and prediction (low-light enhancement, super-resolution, restoration).

Everything size-related comes from the model's ``image_io`` (``ppuhd.inference.ImageIO``):
who pads and to which multiple, the output scale.
"""
import copy
import dataclasses
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..inference import image_io_of, make_tiling, predict_padded, tiled_predict
from ..inference.planes import bicubic_upscale, model_planes, to_rgb
from ..metrics import compute_metrics
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

    DEPLOY_KIND = 'enhancement'

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

    @property
    def baseline_name(self) -> str:
        """What the evaluator compares the model with: the input itself, or its bicubic upscaling."""
        return baseline_name(self.image_io.scale)

    def _named_outputs(self, out) -> Dict[str, paddle.Tensor]:
        out = out if isinstance(out, (tuple, list)) else (out,)
        return dict(zip(self.output_names, out))

    def forward(self, batch):
        if not self.terms:
            raise ValueError('This EnhancementTask has no enabled loss term (built for inference, or every term '
                             'disabled in task.losses): it can predict but not train')
        outputs = self._named_outputs(self.run_model(model_planes(batch['lq'], self.image_io)))
        target = model_planes(batch['gt'], self.image_io)
        result = {f'loss_{term.name}': term(outputs, target) for term in self.terms}
        result['loss'] = paddle.add_n(list(result.values()))
        return result

    def _predict_planes(self, x: paddle.Tensor) -> paddle.Tensor:
        """The model's main output for any H x W (the model's planes in and out), whole or tiled."""
        if self.tiling is None:
            return whole_image(self.model, self.image_io, x)
        return paddle.to_tensor(tiled_predict(
            lambda t: whole_image(self.model, self.image_io, paddle.to_tensor(t)).numpy(), x.numpy(), self.tiling))

    @paddle.no_grad()
    def predict(self, batch):
        lq = batch['lq']
        out = self._predict_planes(model_planes(lq, self.image_io))
        if self.image_io.channels != 'rgb':
            out = paddle.to_tensor(to_rgb(out.numpy(), lq.numpy(), self.image_io))
        return {'pred': out, 'target': batch.get('gt'), 'input': lq}

    def eval_batch_size(self, requested: int) -> int:
        return 1  # evaluation images have their own sizes

    def metric_names(self, metric_cfg: Dict[str, dict]) -> List[str]:
        names = [n for n, kw in metric_cfg.items() if kw is not None]
        return sorted(names + [f'{self.baseline_name}_{n}' for n in names])

    def evaluate_batch(self, batch, metric_cfg):
        return image_metrics(self.predict(batch), batch['name'], self.image_io.scale, metric_cfg)

    def export_layer(self) -> nn.Layer:
        """The inference graph: the model's export variant (``model.deploy_layer()``, the same parameters in a
        formulation rewritten for static graphs, e.g. UHDFour's) or the model itself, padded as ``predict``.
        It maps the model's planes (RGB, or Y for Y-channel models) at any H x W to its output at scale."""
        deploy = getattr(self.model, 'deploy_layer', None)
        return _WholeImage(deploy() if deploy else self.model, self.image_io)

    def deploy_config(self, cfg: dict) -> Dict[str, Any]:
        io = self.image_io
        planes = 'RGB' if io.channels == 'rgb' else 'Y (BT.601 studio swing, ppuhd.inference.color)'
        return {
            'input': {'name': 'x', 'dtype': 'float32', 'shape': [None, io.in_channels, None, None]},
            'image_io': io.to_dict(),
            'preprocess': {'channel_order': 'RGB', 'layout': 'NCHW', 'scale': 'dtype_max', 'planes': io.channels,
                           'note': f'x = image / 255 (8 bit) or / 65535 (16 bit): float32 {planes} in [0, 1], '
                                   'no mean/std; any H and W from image_io.min_size on'},
            'padding': {'in_graph': True, 'note': f'the graph pads to a multiple of {io.size_multiple} '
                        f'({io.pad_mode}) itself and crops the output to {io.scale} x the input size'},
            'tiling': self._tiling_dict(),
            'output': {'name': 'image', 'meaning': (
                f'{planes} image, NCHW float32, {io.scale} x the input H and W, nominally [0, 1] but not clamped'
                + ('; RGB = this Y with the MATLAB-bicubic upscaled Cb, Cr of the input' if io.channels == 'y'
                   else '') + '. Clip to [0, 1] and multiply by 255 to save')},
            'dynamic_shapes': self._trt_shapes(),
        }

    def _tiling_dict(self) -> Optional[Dict[str, Any]]:
        """The task's tiled-inference settings (``task.tiling``), as plain YAML values."""
        if self.tiling is None:
            return None
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self.tiling).items()
                if k != 'progress'}

    def _trt_shapes(self) -> Dict[str, List[int]]:
        """TensorRT input shape ranges: whole images up to a 4K output, or one tile when the task tiles."""
        io, c = self.image_io, self.image_io.in_channels
        if self.tiling is not None and self.tiling.tile is not None:
            tile = list(self.tiling.tile)
            return {'min': [1, c, io.min_size, io.min_size], 'opt': [1, c, *tile], 'max': [1, c, *tile]}
        top = [-(-2160 // io.scale), -(-3840 // io.scale)]
        opt = [-(-1080 // io.scale), -(-1920 // io.scale)]
        return {'min': [1, c, io.min_size, io.min_size], 'opt': [1, c, *opt], 'max': [1, c, *top]}


def baseline_name(scale: int) -> str:
    """What the evaluator compares an image-to-image model with: the input itself, or its bicubic upscaling."""
    return 'input' if scale == 1 else 'bicubic'


def image_metrics(out: Dict[str, paddle.Tensor], names: Sequence[str], scale: int, metric_cfg: Dict[str, dict]):
    """``Task.evaluate_batch`` of predictions ``out`` (``pred``, ``target``, ``input``, NCHW): metric sums of the
    model and of its baseline (``input_*`` / ``bicubic_*``) plus ``count``, and each image's arrays and values."""
    metric_cfg = {n: kw for n, kw in metric_cfg.items() if kw is not None}
    sums: Dict[str, float] = {'count': 0.0}
    images = []
    baselines = bicubic_upscale(out['input'].numpy(), scale)
    for i, name in enumerate(names):
        arrays = {k: hwc(v[i]) for k, v in out.items() if v is not None}
        values = compute_metrics(arrays['pred'], arrays['target'], metric_cfg)
        baseline = compute_metrics(hwc(baselines[i]), arrays['target'], metric_cfg)
        values.update({f'{baseline_name(scale)}_{k}': v for k, v in baseline.items()})
        for key, value in values.items():
            sums[key] = sums.get(key, 0.0) + value
        sums['count'] += 1
        images.append((name, arrays, values))
    return sums, images


def hwc(array) -> np.ndarray:
    """One CHW image (tensor or array) as float32 HWC."""
    array = array.numpy() if isinstance(array, paddle.Tensor) else np.asarray(array)
    return array.transpose(1, 2, 0).astype('float32')


def whole_image(model: nn.Layer, image_io, x: paddle.Tensor) -> paddle.Tensor:
    """The first output of ``model`` for an input of any H x W: the model pads itself, or is padded here."""
    def main(t):
        out = model(t)  # the first output is the prediction (EnhancementTask.output_names)
        return out[0] if isinstance(out, (tuple, list)) else out
    if image_io.pads_itself:
        return main(x)
    return predict_padded(main, x, image_io.size_multiple, image_io.pad_mode, image_io.scale)


class _WholeImage(nn.Layer):
    """The exported graph: :func:`whole_image` of ``model``."""

    def __init__(self, model: nn.Layer, image_io):
        super().__init__()
        self.model, self.image_io = model, image_io

    def forward(self, x):
        return whole_image(self.model, self.image_io, x)
