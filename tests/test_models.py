"""Every registered model (``ppuhd.list_models()``): forward shape and finiteness, backward reaches every
parameter, the exported graph run by Paddle Inference equals dygraph. Small per-model arguments keep it fast;
a newly registered model must get a row in ``SMALL`` (the first test says so)."""
import os
import sys

import numpy as np
import paddle
import pytest

from conftest import ROOT
import helpers.toy_sr  # noqa: F401  (registers toy_sr_x2, the contract's x2 test model)

import ppuhd
from ppuhd.engine.export import export_classifier, export_task
from ppuhd.inference import image_io_of
from ppuhd.tasks.enhancement import EnhancementTask

sys.path.insert(0, os.path.join(ROOT, 'deploy', 'python'))
from predictor import Predictor, RunOptions  # noqa: E402

# name prefix -> (constructor overrides, (H, W) of the test input); classifiers get 5 classes.
SMALL = {
    'vit_': ({'depth': 2, 'num_classes': 5}, 'grid2'),  # no drop path: a dropped block gets no gradient
    'deit_': ({'depth': 2, 'num_classes': 5}, 'grid2'),
    'regnety_': ({'num_classes': 5, 'zero_init_last': False}, (48, 40)),  # zero-init BN would stop gradients
    'uhdfour': ({}, (61, 69)),  # >= 64 after padding: LowNet's deepest InstanceNorm needs 2 x 2 pixels
    'llformer': ({'dim': 8, 'num_blocks': (1, 1, 1, 1), 'num_refinement_blocks': 1}, (21, 35)),
    'toy_sr_x2': ({}, (13, 19)),
    'espcn_': ({}, (13, 19)),
    'edt_': ({'num_feat': 4, 'embed_dim': 12, 'depths': (1, 1), 'num_heads': (2, 2), 'drop_path_rate': 0.0},
             (13, 19)),
    # 12 x 12 tiles (the body's fixed size): 13 x 19 goes through the official chop, 2 x 3 tiles per image
    'ipt_': ({'n_feats': 4, 'patch_size': 12, 'num_heads': 2, 'num_layers': 1}, (13, 19)),
}


def _small(name):
    prefix = next((p for p in SMALL if name.startswith(p)), None)
    if prefix is None:
        raise KeyError(f"'{name}' has no row in tests/test_models.py SMALL: add its small test arguments")
    kwargs, size = SMALL[prefix]
    if size == 'grid2':  # a 2 x 2 patch grid at the registered patch size
        patch = 32 if 'patch32' in name else 16
        kwargs, size = dict(kwargs, img_size=2 * patch), (2 * patch, 2 * patch)
    return kwargs, size


def _build(name):
    kwargs, size = _small(name)
    paddle.seed(0)
    return ppuhd.create_model(name, **kwargs), size


def _is_image_model(model):
    return getattr(model, 'image_io', None) is not None


def _is_multitask(model):
    """A multi-task pre-training model (EDT's): one input per task, ``task_image_io`` instead of ``image_io``."""
    return not _is_image_model(model) and hasattr(model, 'task_image_io')


def _input(model, size, batch=2, seed=0, io=None):
    io = io or (image_io_of(model) if _is_image_model(model) else None)
    channels = io.in_channels if io else 3
    return np.random.default_rng(seed).random((batch, channels, *size), dtype=np.float32)


def _task_ios(model):
    return [model.task_image_io[t] for t in model.tasks]


@pytest.mark.parametrize('name', ppuhd.list_models())
def test_every_model_has_small_arguments(name):
    _small(name)


@pytest.mark.parametrize('name', ppuhd.list_models())
def test_forward_shape_and_finite(name):
    model, size = _build(name)
    model.eval()
    with paddle.no_grad():
        if _is_multitask(model):
            outs = model([paddle.to_tensor(_input(model, size, io=io)) for io in _task_ios(model)])
            for out, io in zip(outs, _task_ios(model)):
                assert list(out.shape) == [2, 3, *io.output_size(*size)] and bool(paddle.isfinite(out).all())
            return
        if _is_image_model(model):  # the task takes RGB and gives RGB, also for Y-channel models
            rgb = paddle.to_tensor(np.random.default_rng(0).random((2, 3, *size), dtype=np.float32))
            out = EnhancementTask(model, losses=[]).predict({'lq': rgb})['pred']
            expected = [2, 3, *image_io_of(model).output_size(*size)]
        else:
            out, expected = model(paddle.to_tensor(_input(model, size))), [2, model.num_classes]
    assert list(out.shape) == expected and bool(paddle.isfinite(out).all())


@pytest.mark.parametrize('name', ppuhd.list_models())
def test_backward_reaches_every_parameter(name):
    model, size = _build(name)
    model.train()
    ios = _task_ios(model) if _is_multitask(model) else [image_io_of(model)] if _is_image_model(model) else [None]
    inputs = []
    for io in ios:
        multiple = io.size_multiple if io else 1
        crop = tuple(-(-s // multiple) * multiple for s in size)  # a training crop fits the model
        if io and io.tile_size:
            crop = (io.tile_size, io.tile_size)  # a fixed-size network trains on its one size
        inputs.append(paddle.to_tensor(_input(model, crop, io=io)))
    if _is_image_model(model) and len(getattr(model, 'tasks', ())) > 1:  # one task per call (IPT pre-training)
        outputs = [model(inputs[0], task=task) for task in model.tasks]
    else:
        outputs = model(inputs if _is_multitask(model) else inputs[0])
    outputs = outputs if isinstance(outputs, (tuple, list)) else [outputs]
    paddle.add_n([o.square().mean() for o in outputs]).backward()
    bad = [n for n, p in model.named_parameters() if not p.stop_gradient and
           (p.grad is None or not bool(paddle.isfinite(p.grad).all()) or not bool(p.grad.abs().sum() > 0))]
    assert not bad, f'no (finite, non-zero) gradient for {bad[:5]}'


@pytest.mark.parametrize('name', ppuhd.list_models())
def test_exported_graph_equals_dygraph(name, tmp_path):
    model, size = _build(name)
    if _is_multitask(model):
        pytest.skip('a multi-task pre-training model has no single deploy graph: its single-task models export')
    model.eval()
    if _is_image_model(model):
        task = EnhancementTask(model, losses=[])
        export_task(task, {'model': {'type': name}}, str(tmp_path))
        predictor = Predictor(str(tmp_path), RunOptions(threads=1))
        img = (np.random.default_rng(1).random((*size, 3)) * 255).astype(np.uint8)
        got = predictor.enhance(img)
        rgb = paddle.to_tensor(img.transpose(2, 0, 1)[None].astype(np.float32) / 255)
        want = task.predict({'lq': rgb})['pred'].numpy()[0].transpose(1, 2, 0)
    else:
        export_classifier(model, name, str(tmp_path))
        predictor = Predictor(str(tmp_path), RunOptions(threads=1))
        x = _input(model, size, batch=2, seed=1)
        got = predictor.run(x)
        with paddle.no_grad():
            want = model(paddle.to_tensor(x)).numpy()
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max())
