"""Export a trained task to a Paddle Inference model plus the ``infer_cfg.yml`` deploy file.

The graph is ``task.export_layer()`` traced by ``paddle.jit.to_static`` with the input shape the
task gives (image-to-image tasks: dynamic batch, height and width; classifiers: dynamic batch at
the eval transform's size). ``infer_cfg.yml`` is the task's ``deploy_config`` (input, preprocessing
from the training config's val transform, the image-to-image contract, output), so deploy and
training share one preprocessing definition (after PaddleSeg's ``deploy.yaml``). Nothing here
knows a task type.
"""
import os
import subprocess
import sys
from typing import Any, Dict, List, Optional

import paddle
import yaml

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


def build_infer_cfg(cfg: dict, task, name: Optional[str] = None, **options) -> Dict[str, Any]:
    """The deploy description written next to the exported model (``options``: the task's export options)."""
    task.check_export_options(options)
    return {'model': name or cfg['model']['type'], 'task': task.DEPLOY_KIND, 'model_file': f'{MODEL_NAME}.json',
            'params_file': f'{MODEL_NAME}.pdiparams', **task.deploy_config(cfg, **options),
            'paddle_inference': paddle_inference_note()}


def input_spec(infer_cfg: Dict[str, Any]) -> paddle.static.InputSpec:
    spec = infer_cfg['input']
    return paddle.static.InputSpec(list(spec['shape']), spec['dtype'], spec['name'])  # it rewrites None as -1


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
                   output_dir: str, onnx: bool = False, extra_files: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Trace ``layer`` with ``spec``, save it, ``infer_cfg.yml``, ``extra_files`` ({name: YAML content}, e.g.
    PaddleClas's ``inference.yml``) (and ``model.onnx``) to ``output_dir``."""
    layer.eval()
    static = paddle.jit.to_static(layer, input_spec=[spec], full_graph=True)
    os.makedirs(output_dir, exist_ok=True)
    paddle.jit.save(static, os.path.join(output_dir, MODEL_NAME))
    _write_yaml(infer_cfg, os.path.join(output_dir, INFER_CFG))
    for name, content in (extra_files or {}).items():
        _write_yaml(content, os.path.join(output_dir, name))
    if onnx:
        infer_cfg['onnx_file'] = os.path.basename(export_onnx(output_dir))
        _write_yaml(infer_cfg, os.path.join(output_dir, INFER_CFG))
    return infer_cfg


def export_task(task, cfg: dict, output_dir: str, onnx: bool = False, name: Optional[str] = None,
                **options) -> Dict[str, Any]:
    """Export a built ``task`` (weights loaded) to ``output_dir``; returns the infer_cfg written."""
    task.eval()
    infer_cfg = build_infer_cfg(cfg, task, name, **options)
    return save_inference(task.export_layer(**options), input_spec(infer_cfg), infer_cfg, output_dir, onnx,
                          task.deploy_files(cfg, infer_cfg))


def export_model(cfg: dict, weights: Optional[str], output_dir: str, onnx: bool = False,
                 **options) -> Dict[str, Any]:
    """Export ``cfg``'s task with ``weights`` to ``output_dir``; returns the infer_cfg written.

    Args:
        cfg: resolved training config.
        weights: ``.pdparams`` of the model (None exports the initial weights, for tests).
        output_dir: folder for ``inference.json``, ``inference.pdiparams``, ``infer_cfg.yml`` (and ``model.onnx``).
        onnx: also write ``model.onnx`` through paddle2onnx.
        options: the task's export options (``Task.EXPORT_OPTIONS``, e.g. ``softmax=True`` for classifiers).
    """
    if weights is not None:
        cfg = dict(cfg, model_weights=weights)
    return export_task(build_task(cfg, inference=True), cfg, output_dir, onnx, **options)


def export_classifier(model: paddle.nn.Layer, name: str, output_dir: str, softmax: bool = False,
                      onnx: bool = False, class_names: Optional[List[str]] = None) -> Dict[str, Any]:
    """Export a bare classifier (a registered model with ``num_classes`` and ``pretrained_cfg``), no config needed;
    its eval transform comes from ``pretrained_cfg``.

    Args:
        model: the classifier, weights loaded.
        name: its registered name, written to infer_cfg.yml.
        output_dir: output folder.
        softmax: output probabilities instead of logits.
        onnx: also write ``model.onnx``.
        class_names: labels written to infer_cfg.yml.
    """
    from ..tasks.classification import ClassificationTask
    cfg = {'deploy': {'class_names': class_names}}
    return export_task(ClassificationTask(model, mixup=None), cfg, output_dir, onnx, name, softmax=softmax)
