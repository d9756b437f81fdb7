"""Export a trained task to a Paddle Inference model plus the ``infer_cfg.yml`` deploy file.

The graph is ``task.export_layer()`` traced by ``paddle.jit.to_static``:
enhancement models with dynamic batch, height and width, classifiers with a
dynamic batch at the model's input size. ``infer_cfg.yml`` is written from the
training config and the model, so deploy and training share one
preprocessing definition (after PaddleSeg's ``deploy.yaml``).
"""
import dataclasses
import inspect
import os
import subprocess
import sys
from typing import Any, Dict, List, Optional

import paddle
import yaml

from ..tasks.classification import ClassificationTask
from ..tasks.enhancement import EnhancementTask
from ..tasks.builder import build_task

MODEL_NAME = 'inference'
INFER_CFG = 'infer_cfg.yml'
# Every exported graph loads and runs under Paddle Inference's default settings (tests/test_default_client.py);
# these default oneDNN passes only cost speed (docs/deploy.md), deploy/python/predictor.py deletes them.
ONEDNN_SLOW_PASSES = ('onednn_placement_pass',)


def paddle_inference_note() -> Dict[str, Any]:
    """What infer_cfg.yml tells a client of its own (``paddle_inference``), printed by tools/export.py."""
    return {'default_config': 'runs: Config(model_dir, "inference") with the default passes, CPU with or '
                              'without oneDNN',
            'delete_passes_for_speed': list(ONEDNN_SLOW_PASSES),
            'note': 'with oneDNN, config.delete_pass("onednn_placement_pass") is faster (its oneDNN elementwise '
                    'kernels are slow on mixed layouts), as deploy/python/predictor.py does; see docs/deploy.md'}


def task_kind(task) -> str:
    """'enhancement' or 'classification', from the Task and its model."""
    if isinstance(task, EnhancementTask):
        return 'enhancement'
    if hasattr(task.model, 'num_classes'):
        return 'classification'
    raise ValueError(f'{type(task).__name__} has no deploy format: export knows enhancement tasks and '
                     f'classifiers (models with num_classes)')


def _classifier_size(cfg: dict, model) -> List[int]:
    size = cfg.get('export', {}).get('input_size') or list(getattr(model, 'pretrained_cfg', {}).get('input_size', []))[-2:]
    if len(size or []) != 2:
        raise KeyError("export.input_size: set [H, W] in the config (the model has no pretrained_cfg.input_size)")
    return [int(s) for s in size]


def input_spec(cfg: dict, model, kind: str) -> paddle.static.InputSpec:
    """Dynamic batch; dynamic H and W for enhancement, the model's input size for classifiers."""
    h, w = (None, None) if kind == 'enhancement' else _classifier_size(cfg, model)
    return paddle.static.InputSpec([None, 3, h, w], 'float32', 'x')


def _export_layer(task, softmax: bool):
    params = inspect.signature(task.export_layer).parameters
    if 'softmax' in params:
        return task.export_layer(softmax=softmax)
    if softmax:
        raise ValueError(f'--softmax: {type(task).__name__}.export_layer() has no softmax option (classifiers only)')
    return task.export_layer()


def _tiling(task) -> Optional[Dict[str, Any]]:
    """The task's tiled-inference settings (``task.tiling``), as plain YAML values."""
    if getattr(task, 'tiling', None) is None:
        return None
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(task.tiling).items()
            if k != 'progress'}


def _enhancement_cfg(cfg: dict, task) -> Dict[str, Any]:
    io = task.image_io
    multiple, min_size = io.size_multiple, io.min_size
    return {
        'preprocess': {'channel_order': 'RGB', 'layout': 'NCHW', 'scale': 'dtype_max',
                       'note': 'x = image / 255 (8 bit) or / 65535 (16 bit): float32 RGB in [0, 1], no mean/std'},
        'size_multiple': multiple,
        'padding': {'mode': 'reflect', 'fallback': 'replicate', 'where': 'bottom_right', 'in_graph': True,
                    'note': 'the graph pads to size_multiple itself and crops the output back'},
        'min_size': min_size,
        'tiling': _tiling(task),
        'output': {'name': 'enhanced', 'meaning': 'enhanced RGB image, NCHW float32, nominally [0, 1] but not '
                   'clamped; same H and W as the input. Clip to [0, 1] and multiply by 255 to save'},
        'dynamic_shapes': _enhancement_shapes(task, min_size),
    }


def _enhancement_shapes(task, min_size: int) -> Dict[str, List[int]]:
    """TensorRT shape ranges: whole 4K images, or one tile when the task tiles."""
    tile = _tiling(task) and _tiling(task)['tile']
    top = list(tile) if tile else [2160, 3840]
    opt = top if tile else [1080, 1920]
    return {'min': [1, 3, min_size, min_size], 'opt': [1, 3, *opt], 'max': [1, 3, *top]}


def _classification_cfg(cfg: dict, model, softmax: bool) -> Dict[str, Any]:
    model_cfg = dict(getattr(model, 'pretrained_cfg', {}))
    h, w = _classifier_size(cfg, model)
    crop_pct = float(model_cfg.get('crop_pct', 0.875))
    return {
        'preprocess': {'channel_order': 'RGB', 'layout': 'NCHW', 'scale': 1 / 255.0,
                       'mean': list(model_cfg.get('mean', (0.485, 0.456, 0.406))),
                       'std': list(model_cfg.get('std', (0.229, 0.224, 0.225))),
                       'resize_short': int(round(min(h, w) / crop_pct)), 'crop_size': [h, w],
                       'interpolation': model_cfg.get('interpolation', 'bicubic')},
        'num_classes': int(model.num_classes),
        'class_names': cfg.get('deploy', {}).get('class_names'),
        'output': {'name': 'probabilities' if softmax else 'logits',
                   'meaning': f"[batch, num_classes] {'softmax probabilities' if softmax else 'logits'}"},
        'dynamic_shapes': {'min': [1, 3, h, w], 'opt': [8, 3, h, w], 'max': [32, 3, h, w]},
    }


def build_infer_cfg(cfg: dict, task, softmax: bool = False) -> Dict[str, Any]:
    """The deploy description written next to the exported model."""
    kind = task_kind(task)
    body = _enhancement_cfg(cfg, task) if kind == 'enhancement' else _classification_cfg(cfg, task.model, softmax)
    return {'model': cfg['model']['type'], 'task': kind, 'model_file': f'{MODEL_NAME}.json',
            'params_file': f'{MODEL_NAME}.pdiparams', 'input': {'name': 'x', 'dtype': 'float32'}, **body,
            'paddle_inference': paddle_inference_note()}


def _write_yaml(data: Dict[str, Any], path: str) -> None:
    tmp = f'{path}.tmp.{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
        yaml.safe_dump(data, f, sort_keys=False, default_flow_style=False)
    os.replace(tmp, path)


def export_onnx(output_dir: str, opset: int = 17) -> str:
    """Convert the exported model with paddle2onnx (never lets it pip-install anything); returns the .onnx path.

    paddle2onnx aborts the whole process on an unsupported operator, so it runs in a child process.
    """
    try:
        import paddle2onnx  # noqa: F401
    except ImportError as err:
        raise ImportError("--onnx needs paddle2onnx: pip install 'ppuhd[onnx]' (or paddle2onnx==2.1.0)") from err
    prefix = os.path.join(output_dir, MODEL_NAME)
    dst = os.path.join(output_dir, 'model.onnx')
    code = ('import sys, paddle2onnx; paddle2onnx.export(sys.argv[1], sys.argv[2], sys.argv[3], '
            'opset_version=int(sys.argv[4]), optimize_tool="None", enable_onnx_checker=True)')
    proc = subprocess.run([sys.executable, '-c', code, f'{prefix}.json', f'{prefix}.pdiparams', dst, str(opset)],
                          capture_output=True, text=True)
    if proc.returncode != 0 or not os.path.isfile(dst):
        unsupported = 'unsupported operators' in proc.stdout + proc.stderr
        reason = ('the graph has operators paddle2onnx cannot convert (e.g. FFT / complex ops)' if unsupported
                  else (proc.stderr.strip().splitlines() or ['unknown error'])[-1])
        raise ValueError(f'ONNX export of {prefix}.json failed: {reason}. The Paddle Inference model is '
                         f'still in {output_dir}')
    return dst


def save_inference(layer: paddle.nn.Layer, spec: paddle.static.InputSpec, infer_cfg: Dict[str, Any],
                   output_dir: str, onnx: bool = False) -> Dict[str, Any]:
    """Trace ``layer`` with ``spec``, save it and ``infer_cfg.yml`` (and ``model.onnx``) to ``output_dir``."""
    layer.eval()
    static = paddle.jit.to_static(layer, input_spec=[spec], full_graph=True)
    os.makedirs(output_dir, exist_ok=True)
    paddle.jit.save(static, os.path.join(output_dir, MODEL_NAME))
    _write_yaml(infer_cfg, os.path.join(output_dir, INFER_CFG))
    if onnx:
        infer_cfg['onnx_file'] = os.path.basename(export_onnx(output_dir))
        _write_yaml(infer_cfg, os.path.join(output_dir, INFER_CFG))
    return infer_cfg


def export_model(cfg: dict, weights: Optional[str], output_dir: str, softmax: bool = False,
                 onnx: bool = False) -> Dict[str, Any]:
    """Export ``cfg``'s task with ``weights`` to ``output_dir``; returns the infer_cfg written.

    Args:
        cfg: resolved training config.
        weights: ``.pdparams`` of the model (None exports the initial weights, for tests).
        output_dir: folder for ``inference.json``, ``inference.pdiparams``, ``infer_cfg.yml`` (and ``model.onnx``).
        softmax: classifiers only: output probabilities instead of logits.
        onnx: also write ``model.onnx`` through paddle2onnx.
    """
    if weights is not None:
        cfg = dict(cfg, model_weights=weights)
    task = build_task(cfg, inference=True)
    task.eval()
    infer_cfg = build_infer_cfg(cfg, task, softmax)
    spec = input_spec(cfg, task.model, infer_cfg['task'])
    return save_inference(_export_layer(task, softmax), spec, infer_cfg, output_dir, onnx)


def export_classifier(model: paddle.nn.Layer, name: str, output_dir: str, softmax: bool = False,
                      onnx: bool = False, class_names: Optional[List[str]] = None) -> Dict[str, Any]:
    """Export a bare classifier (a registered model with ``num_classes`` and ``pretrained_cfg``), no Task needed.

    Args:
        model: the classifier, weights loaded.
        name: its registered name, written to infer_cfg.yml.
        output_dir: output folder.
        softmax: output probabilities instead of logits.
        onnx: also write ``model.onnx``.
        class_names: labels written to infer_cfg.yml.
    """
    model.eval()
    cfg = {'deploy': {'class_names': class_names}}
    infer_cfg = {'model': name, 'task': 'classification', 'model_file': f'{MODEL_NAME}.json',
                 'params_file': f'{MODEL_NAME}.pdiparams', 'input': {'name': 'x', 'dtype': 'float32'},
                 **_classification_cfg(cfg, model, softmax), 'paddle_inference': paddle_inference_note()}
    layer = ClassificationTask(model, mixup=None).export_layer(softmax=softmax)
    return save_inference(layer, input_spec(cfg, model, 'classification'), infer_cfg, output_dir, onnx)
