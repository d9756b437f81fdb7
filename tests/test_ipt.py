"""IPT (ppuhd.models.ipt, ppuhd.models.convert.ipt) without torch or the official code.

Parity with the official network and ``forward_chop`` is in tests/test_golden.py (``ipt_sr_x2``,
``ipt_sr_x3``) and tests/test_official_parity_ipt.py (``PPUHD_IPT_OFFICIAL``). Here: the registered
configurations, the task API, the chop's arithmetic with cheap tile functions, padding below 48, and
the converter's strictness on official-format state dicts rebuilt from the Paddle model. Building one
115M-parameter model takes 2-5 s on 2 cores and one 48 x 48 pass about 1 s, so one ``ipt_pretrain``
(all six heads and tails) is shared by the module.
"""
import os
import re
import sys

import numpy as np
import paddle
import pytest

from conftest import ROOT
import ppuhd
from ppuhd.engine.export import export_task
from ppuhd.inference.padding import pad_bottom_right
from ppuhd.inference.tiling import official_ipt_axis_weights
from ppuhd.metrics.image import psnr
from ppuhd.models.convert import CONVERTERS, convert_state_dict
from ppuhd.models.ipt import IPT, PRETRAIN_TASKS, chop
from ppuhd.tasks.enhancement import EnhancementTask

# FACTS "IPT", from the official model/ipt.py (MeanShift's 2 x 12 frozen values included)
OFFICIAL_PARAMS = {'ipt_sr_x2': 115_460_443, 'ipt_sr_x3': 115_645_083, 'ipt_sr_x4': 115_608_155,
                   'ipt_denoise': 115_312_731, 'ipt_derain': 115_312_731, 'ipt_pretrain': 118_892_394}
EMBEDDINGS = ('body.query_embed.weight', 'body.position_encoding.pe.weight')

sys.path.insert(0, os.path.join(ROOT, 'deploy', 'python'))
from predictor import Predictor, RunOptions, cpu_supports_bf16  # noqa: E402


@pytest.fixture(scope='module')
def pretrain():
    paddle.seed(0)
    return ppuhd.create_model('ipt_pretrain').eval()


def _rand(shape, seed=0):
    return paddle.to_tensor(np.random.default_rng(seed).uniform(0, 1, shape).astype('float32'))


@pytest.mark.parametrize('name', ['ipt_sr_x2', 'ipt_sr_x3', 'ipt_sr_x4', 'ipt_denoise', 'ipt_derain'])
def test_single_task_models(name):
    model = ppuhd.create_model(name).eval()
    params = list(model.parameters())
    assert sum(int(p.size) for p in params) == OFFICIAL_PARAMS[name]
    assert sum(int(p.size) for p in params if p.stop_gradient) == 24  # sub_mean, add_mean
    scale = model.image_io.scale
    assert scale == {'ipt_sr_x2': 2, 'ipt_sr_x3': 3, 'ipt_sr_x4': 4}.get(name, 1) and model.image_io.pads_itself
    with paddle.no_grad():
        y = model(_rand([1, 3, 48, 48]))
    assert y.shape == [1, 3, 48 * scale, 48 * scale] and bool(paddle.isfinite(y).all())


def test_pretrain_model_runs_every_task(pretrain):
    assert sum(int(p.size) for p in pretrain.parameters()) == OFFICIAL_PARAMS['ipt_pretrain']
    assert pretrain.tasks == PRETRAIN_TASKS and pretrain.body.query_embed.weight.shape == [6, 256 * 576]
    x = _rand([1, 3, 48, 48])
    outs = {}
    with paddle.no_grad():
        for task in PRETRAIN_TASKS:
            outs[task] = pretrain(x, task=task).numpy()
    for task, scale in zip(PRETRAIN_TASKS, (2, 3, 4, 1, 1, 1)):
        assert outs[task].shape == (1, 3, 48 * scale, 48 * scale)
    # same shapes, different heads, tails and task embeddings
    assert not np.allclose(outs['denoise_30'], outs['denoise_50']) and not np.allclose(outs['derain'], outs['denoise_30'])


def test_set_task_and_errors(pretrain):
    assert pretrain.task == 'sr_x2' and pretrain.image_io.scale == 2
    try:
        pretrain.set_task('sr_x4')
        assert pretrain.image_io.scale == 4 and pretrain.task_index() == 2
    finally:
        pretrain.set_task('sr_x2')
    with pytest.raises(KeyError, match="no task 'sr_x8'"):
        pretrain.set_task('sr_x8')
    with pytest.raises(ValueError, match='IPT task'):
        IPT(tasks=('sr_x5',))
    with pytest.raises(ValueError, match='chop'):
        IPT(chop='fast')
    pretrain.train()
    try:
        with pytest.raises(ValueError, match='trains on 48 x 48'):
            pretrain(_rand([1, 3, 48, 60]))
        out, tokens = pretrain(_rand([2, 3, 48, 48]), task='derain', return_tokens=True)
        assert out.shape == [2, 3, 48, 48] and tokens.shape == [2, 256, 576]
    finally:
        pretrain.eval()


def test_eval_pads_below_48_and_crops(pretrain):
    """A 20 x 30 input (the official chop raises below 48) = the network on the reflect-padded 48 x 48, cropped."""
    x = _rand([1, 3, 20, 30], seed=1)
    with paddle.no_grad():
        y = pretrain(x, task='sr_x2')
        padded = pretrain.forward_tile(pad_bottom_right(x, 28, 18, 'reflect'), 0)
    assert y.shape == [1, 3, 40, 60]
    np.testing.assert_allclose(y.numpy(), padded.numpy()[:, :, :40, :60], atol=1e-6)


def test_chop_equals_one_pass_where_one_tile_decides(pretrain):
    """48 x 48: the chop is the plain pass. 60 x 48 (two grid rows): the top 12s rows come from the first tile
    alone (forward_chop's top strip, rows [0, 12s))."""
    x = _rand([1, 3, 60, 48], seed=2)
    with paddle.no_grad():
        tile = pretrain.forward_tile(x[:, :, :48], 1).numpy()
        whole = pretrain(x, task='sr_x3').numpy()
        direct = pretrain(x[:, :, :48], task='sr_x3').numpy()
    np.testing.assert_array_equal(direct, tile)
    assert whole.shape == (1, 3, 180, 144)
    # a 2-tile batch vs 1 tile: the same values up to summation order (which depends on the math threads)
    top, ref = whole[:, :, :36], tile[:, :, :36]
    assert np.linalg.norm(top - ref) / np.linalg.norm(ref) < 1e-4  # 0 with 1 thread, 1.2e-5 with 2
    assert np.abs(whole[:, :, 60:100] - tile[:, :, 60:100]).max() > 1e-3  # averaged with the second tile there


def test_deploy_layer_is_the_tile_network(pretrain):
    x = _rand([1, 3, 48, 48], seed=3)
    pretrain.set_task('denoise_50')
    try:
        layer = pretrain.deploy_layer()
        with paddle.no_grad():
            np.testing.assert_array_equal(layer(x).numpy(), pretrain(x).numpy())
    finally:
        pretrain.set_task('sr_x2')


# ---- export and deploy: the fixed 48 x 48 tile graph, tiled by deploy/python/predictor.py


def _export_and_compare(model, tmp_path, size, precisions):
    """Export ``model`` through its task, run an uint8 image of ``size`` with the deploy predictor at each
    precision; returns (infer_cfg, {precision: (max abs error, rel. L2, PSNR dB)}) against dygraph ``predict``."""
    task = EnhancementTask(model.eval(), losses=[])
    infer_cfg = export_task(task, {'model': {'type': 'ipt_sr_x2'}}, str(tmp_path))
    img = (np.random.default_rng(1).random((*size, 3)) * 255).astype(np.uint8)
    want = task.predict({'lq': paddle.to_tensor(img.transpose(2, 0, 1)[None] / np.float32(255))})['pred']
    want = want.numpy()[0].transpose(1, 2, 0)
    errors = {}
    for precision in precisions:
        got = Predictor(str(tmp_path), RunOptions(threads=1, precision=precision)).enhance(img)
        assert got.shape == want.shape
        errors[precision] = (float(np.abs(got - want).max()), float(np.linalg.norm(got - want) / np.linalg.norm(want)),
                             psnr(got, want, clamp=False))
    return infer_cfg, errors


def test_export_is_the_48_tile_and_deploy_tiles_it_as_forward(tmp_path):
    """Full-width IPT x2 (one encoder and one decoder layer) on 60 x 72: 2 x 3 tiles through the official chop.
    fp32 Paddle Inference = dygraph within 1e-5; bf16 (oneDNN, where the CPU has it) within 1 % rel. L2 and at
    least 50 dB (measured 1.9e-3, 61 dB; the full 12 + 12 layers: docs/benchmarks.md)."""
    paddle.seed(0)
    model = ppuhd.create_model('ipt_sr_x2', num_layers=1)
    precisions = ('fp32', 'bf16') if cpu_supports_bf16() else ('fp32',)
    infer_cfg, errors = _export_and_compare(model, tmp_path, (60, 72), precisions)
    assert infer_cfg['input']['shape'] == [None, 3, 48, 48] and infer_cfg['image_io']['tile_size'] == 48
    assert infer_cfg['tiling']['blend'] == 'official_ipt' and infer_cfg['tiling']['stride'] == [12, 12]
    assert not infer_cfg['padding']['in_graph']
    assert errors['fp32'][0] <= 1e-5, errors
    if 'bf16' in errors:
        assert errors['bf16'][1] <= 1e-2 and errors['bf16'][2] >= 50, errors


def test_cosine_chop_exports_its_tiling(tmp_path):
    """The faster option (cosine blending at stride 24) is what infer_cfg.yml carries when the model is built with it;
    a 40 x 52 image (below 48 rows: padded to the tile, cropped back) equals dygraph."""
    paddle.seed(0)
    model = ppuhd.create_model('ipt_sr_x2', num_layers=1, chop='cosine', chop_stride=24)
    infer_cfg, errors = _export_and_compare(model, tmp_path, (40, 52), ('fp32',))
    assert infer_cfg['tiling']['blend'] == 'cosine' and infer_cfg['tiling']['stride'] == [24, 24]
    assert errors['fp32'][0] <= 1e-5, errors


# ---- the chop's arithmetic, with cheap tile functions


def _upsample(scale):
    """A translation-equivariant tile function: nearest-neighbour upscaling (every tile agrees with the whole)."""
    return lambda t: np.repeat(np.repeat(t, scale, axis=-2), scale, axis=-1) * 2.0 - 0.5


@pytest.mark.parametrize('scale', [1, 2, 3, 4])
def test_official_ipt_axis_weights_partition_rows(scale):
    for size in range(48, 150):
        starts, weights, seam = official_ipt_axis_weights(size, scale)
        cut = (size - 48) % 12
        assert starts[:-1 if cut else None] == list(range(0, size - cut - 47, 12))
        assert starts[-1] == size - 48
        total = np.zeros(size * scale)
        for start, w in zip(starts, weights):
            total[start * scale:(start + 48) * scale] += w
        np.testing.assert_allclose(total, 1.0, atol=1e-12)
        assert (weights.sum(1) > 0).all() and seam == (size - cut) * scale - int((48 - cut) / 2 * scale)


@pytest.mark.parametrize('mode', ['official', 'cosine'])
@pytest.mark.parametrize('scale,size', [(1, (50, 97)), (2, (61, 48)), (3, (65, 67)), (4, (20, 130))])
def test_chop_of_an_equivariant_function_is_the_whole_image(mode, scale, size):
    images = np.random.default_rng(0).uniform(0, 1, (2, 3, *size)).astype('float32')
    out = chop(_upsample(scale), images, mode, batch_size=5)
    np.testing.assert_allclose(out, _upsample(scale)(images), atol=1e-6)


def test_official_chop_passes_and_batches():
    """256 x 256: 19 x 19 distinct tiles (the official code runs 397: its top and left strips twice)."""
    calls = []

    def fn(tiles):
        calls.append(len(tiles))
        return _upsample(2)(tiles)
    chop(fn, np.zeros((1, 3, 256, 256), 'float32'), batch_size=64)
    assert sum(calls) == 19 * 19 and max(calls) == 64


def test_official_chop_top_strip_quirk():
    """Rows [0, 12s) x columns [12s, 48s) come from the top-left tile alone (forward_chop's ``y_w_top`` overwrite),
    not the column average the rest of the top strip has."""
    scale = 2

    def constant(tiles):  # each tile's output is its own mean: tiles are told apart
        return np.broadcast_to(tiles.mean(axis=(1, 2, 3), keepdims=True), (len(tiles), 3, 96, 96)).copy()
    image = np.random.default_rng(1).uniform(0, 1, (3, 48, 84)).astype('float32')  # column tiles at 0, 12, 24, 36
    out = chop(constant, image[None])[0]
    means = [image[:, :, x:x + 48].mean() for x in (0, 12, 24, 36)]
    np.testing.assert_allclose(out[:, :24, 24:96], means[0], rtol=1e-6)
    np.testing.assert_allclose(out[:, 24:, 72:96], (means[1] + means[2]) / 2, rtol=1e-6)  # columns [36, 48) LR
    np.testing.assert_allclose(out[:, :24, 96:120], (means[2] + means[3]) / 2, rtol=1e-6)


# ---- converter


def _official_state(model):
    """``model``'s weights as an official checkpoint has them (torch Linear layout, int64 position_ids)."""
    state = {}
    for key, value in model.state_dict().items():
        array = value.numpy()
        state[key] = array.T.copy() if array.ndim == 2 and key not in EMBEDDINGS else array
    state['body.position_encoding.position_ids'] = np.arange(256, dtype=np.int64)[None]
    return state


def _branch(state, index):
    """The single-task official state dict of pre-training branch ``index`` (what a fine-tuned file looks like)."""
    out = {}
    for key, value in state.items():
        m = re.match(r'(head|tail)\.(\d+)\.(.*)', key)
        if m and int(m.group(2)) != index:
            continue
        key = f'{m.group(1)}.0.{m.group(3)}' if m else key
        out[key] = value[index:index + 1] if key == 'body.query_embed.weight' else value
    return out


@pytest.fixture(scope='module')
def official(pretrain):
    return _official_state(pretrain)


def test_converters_are_registered():
    for arch in ('ipt_sr_x2', 'ipt_sr_x3', 'ipt_sr_x4', 'ipt_denoise', 'ipt_derain', 'ipt_pretrain',
                 'ipt_denoise_30', 'ipt_denoise_50'):
        assert arch in CONVERTERS


@pytest.mark.parametrize('arch,branch,held', [
    ('ipt_sr_x2', 2, 'x4 super-resolution.*--arch ipt_sr_x4'),
    ('ipt_sr_x4', 0, 'x2 super-resolution, not the IPT for x4 super-resolution.*--arch ipt_sr_x2'),
    ('ipt_sr_x3', 3, 'denoising or deraining.*--arch ipt_denoise or ipt_derain'),
    ('ipt_derain', 1, 'x3 super-resolution.*--arch ipt_sr_x3'),
    ('ipt_pretrain', 0, 'single-task IPT for x2 super-resolution, not the six-task pre-training model'),
])
def test_checkpoint_of_another_task_is_refused(official, arch, branch, held):
    with pytest.raises(ValueError, match=held):
        CONVERTERS[arch](_branch(official, branch))


def test_pretrain_file_needs_a_denoising_branch(official):
    with pytest.raises(ValueError, match='two denoising branches.*ipt_denoise_30 or --arch ipt_denoise_50'):
        CONVERTERS['ipt_denoise'](official)


def test_converter_transposes_linears_only(official, pretrain):
    converted, dropped = CONVERTERS['ipt_pretrain'](official)
    assert dropped == {'body.position_encoding.position_ids':
                       'int64 arange(256) buffer: the position table is read in order'}
    ours = pretrain.state_dict()
    assert sorted(converted) == sorted(ours)
    for key, value in converted.items():  # square Linears (out_proj 576 x 576) too
        np.testing.assert_array_equal(value, ours[key].numpy(), err_msg=key)
    assert all(official[k].shape == tuple(ours[k].shape) for k in EMBEDDINGS)  # tables: not transposed
    bad = dict(official, **{'body.position_encoding.position_ids': np.arange(256, dtype=np.int64)[None, ::-1]})
    with pytest.raises(ValueError, match='not arange'):
        CONVERTERS['ipt_pretrain'](bad)


def test_single_task_taken_out_of_the_pretraining_file(official, pretrain):
    """--arch ipt_sr_x3 on IPT_pretrain.pt: branch 1's head, tail and task embedding, strictly checked; the model
    then computes what the pre-training model computes for sr_x3."""
    converted, report = convert_state_dict('ipt_sr_x3', official)
    assert 'pre-training branch denoise_50, not taken out for sr_x3' in report.summary()
    # 5 heads of 10 tensors, the tails of x2 (4), x4 (6) and the scale-1 tasks (2 each), position_ids
    assert report.dropped_tensors == 5 * 10 + (4 + 6 + 2 + 2 + 2) + 1
    model = ppuhd.create_model('ipt_sr_x3').eval()
    model.set_state_dict({k: paddle.to_tensor(v) for k, v in converted.items()})
    x = _rand([1, 3, 48, 48], seed=4)
    with paddle.no_grad():
        np.testing.assert_allclose(model(x).numpy(), pretrain(x, task='sr_x3').numpy(), atol=1e-6)
    denoise, _ = CONVERTERS['ipt_denoise_50'](official)
    np.testing.assert_array_equal(denoise['head.0.0.weight'], official['head.5.0.weight'])
    np.testing.assert_array_equal(denoise['body.query_embed.weight'], official['body.query_embed.weight'][5:])
