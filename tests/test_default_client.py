"""Exported graphs under Paddle Inference's DEFAULT settings, as a user's own script runs them (issue 17).

The client knows nothing of ppuhd (no deleted passes, no options): ``Config(model_dir, 'inference')``,
``disable_gpu()``, optionally ``disable_onednn()``, ``create_predictor``. It runs in a subprocess so that a
segfault fails the test and not the suite. Every exportable architecture (UHDFour, LLFormer, EDT, ESPCN,
ViT/DeiT plain and distilled, RegNetY) must give the dygraph output at three input sizes (images: one odd,
padded inside the graph; classifiers: three batch sizes, and DeiT also at a size off its position grid,
which resamples the embedding inside the graph).
"""
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest
import yaml

from conftest import ROOT, load_script

CLIENT = """
import sys
import numpy as np
from paddle.inference import Config, create_predictor
model_dir, onednn, src, dst = sys.argv[1:]
config = Config(model_dir, 'inference')
config.disable_gpu()
if onednn == 'off':
    config.disable_onednn()
predictor = create_predictor(config)
inputs, outputs = np.load(src), {}
for key in inputs.files:
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    handle.reshape(list(inputs[key].shape))
    handle.copy_from_cpu(inputs[key])
    predictor.run()
    outputs[key] = predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
np.savez(dst, **outputs)
"""
ENHANCEMENT_SIZES = [(32, 32), (40, 56), (37, 53)]  # the last is not a multiple of 8 / 16: padded in the graph
BATCHES = [1, 2, 3]


def _rand(shape, seed):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def _default_client(model_dir, inputs, onednn, tmp_path):
    src, dst = tmp_path / f'in_{onednn}.npz', tmp_path / f'out_{onednn}.npz'
    np.savez(src, **inputs)
    proc = subprocess.run([sys.executable, '-c', CLIENT, model_dir, onednn, str(src), str(dst)], capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS='1', GLOG_minloglevel='2'))
    assert proc.returncode == 0, f'default-config client exited with {proc.returncode}:\n{proc.stderr[-3000:]}'
    return np.load(dst)


def _dygraph(model, inputs):
    """The dygraph outputs (the first one: the prediction) of ``inputs``."""
    outputs = {}
    with paddle.no_grad():
        for key, x in inputs.items():
            out = model(paddle.to_tensor(x))  # UHDFour and LLFormer pad themselves to their size multiple
            outputs[key] = (out[0] if isinstance(out, (tuple, list)) else out).numpy()
    return outputs


def _enhancement_inputs():
    return {f'{h}x{w}': _rand((1, 3, h, w), h) for h, w in ENHANCEMENT_SIZES}


@pytest.fixture(scope='module')
def uhdfour_case(uhdfour_export):
    from ppuhd.config import get_config
    from ppuhd.engine import build_task
    from conftest import DEMO_CFG
    task = build_task(dict(get_config(DEMO_CFG), model_weights=uhdfour_export[1]), inference=True)
    task.eval()
    inputs = _enhancement_inputs()
    return uhdfour_export[0], inputs, _dygraph(task.model, inputs)


@pytest.fixture(scope='module')
def llformer_case(tmp_path_factory):
    """LLFormer with one block per level: every block type of the released model, a quarter of its ops (a
    Paddle Inference predictor's first run of the full graph takes ~25 s here, whatever the image size)."""
    from ppuhd.engine import build_task
    from ppuhd.engine.export import export_model
    cfg = {'model': {'type': 'llformer', 'num_blocks': [1, 1, 1, 1], 'num_refinement_blocks': 1},
           'task': {'type': 'EnhancementTask', 'losses': []}}
    paddle.seed(0)
    task = build_task(cfg, inference=True)
    task.eval()
    out = str(tmp_path_factory.mktemp('llformer') / 'model')
    weights = str(tmp_path_factory.mktemp('llformer_weights') / 'llformer.pdparams')
    paddle.save(task.model.state_dict(), weights)
    export_model(cfg, weights, out)
    inputs = _enhancement_inputs()
    return out, inputs, _dygraph(task.model, inputs)


def _sr_case(tmp_path_factory, name, kwargs):
    """A super-resolution model (its own padding, output at scale; Y planes for ESPCN) exported with the task."""
    from ppuhd.engine import build_task
    from ppuhd.engine.export import export_task
    cfg = {'model': {'type': name, **kwargs}, 'task': {'type': 'EnhancementTask', 'losses': []}}
    paddle.seed(0)
    task = build_task(cfg, inference=True)
    task.eval()
    out = str(tmp_path_factory.mktemp(name) / 'model')
    export_task(task, cfg, out)
    channels = task.image_io.in_channels
    inputs = {f'{h}x{w}': _rand((1, channels, h, w), h) for h, w in ENHANCEMENT_SIZES}
    return out, inputs, _dygraph(task.model, inputs)


@pytest.fixture(scope='module')
def edt_case(tmp_path_factory):
    """EDT-T x2 with a plain and a shifted block, then one block per stage (its heads: conv + LeakyReLU, which the
    default oneDNN fusion crashed on; the shifted block's window mask, which a default reshape fusion broke)."""
    return _sr_case(tmp_path_factory, 'edt_t_sr_x2', {'depths': [2, 1, 1, 1]})


@pytest.fixture(scope='module')
def espcn_case(tmp_path_factory):
    return _sr_case(tmp_path_factory, 'espcn_x3', {})


@pytest.fixture(scope='module')
def ipt_case(tmp_path_factory):
    """IPT x2 (full width, one encoder and one decoder layer): its export is the fixed 48 x 48 tile network (the
    tiling runs outside the graph), so the client feeds batches of 1, 2 and 3 tiles."""
    import ppuhd
    from ppuhd.engine.export import export_task
    from ppuhd.tasks.enhancement import EnhancementTask
    paddle.seed(0)
    task = EnhancementTask(ppuhd.create_model('ipt_sr_x2', num_layers=1).eval(), losses=[])
    out = str(tmp_path_factory.mktemp('ipt') / 'model')
    export_task(task, {'model': {'type': 'ipt_sr_x2'}}, out)
    inputs = {f'tiles{b}': _rand((b, 3, 48, 48), b) for b in BATCHES}
    return out, inputs, _dygraph(task.export_layer(), inputs)


def _classifier_inputs(size):
    return {f'batch{b}': _rand((b, 3, size, size), b) for b in BATCHES}


@pytest.fixture(scope='module')
def deit_case(deit_export):
    model_dir, model = deit_export  # 64x64, 10 classes, position grid 4x4
    inputs = _classifier_inputs(64)
    return model_dir, inputs, _dygraph(model, inputs)


@pytest.fixture(scope='module')
def deit_distilled_off_grid_case(tmp_path_factory):
    """Distilled DeiT (two prefix tokens) exported at 80x80: its 4x4 position grid is resampled to 5x5 in the graph."""
    import ppuhd
    from ppuhd.engine.export import save_inference
    from ppuhd.tasks.classification import ClassificationTask
    paddle.seed(0)
    model = ppuhd.create_model('deit_tiny_distilled_patch16_224', img_size=64, num_classes=10)
    model.eval()
    out = str(tmp_path_factory.mktemp('deit_distilled') / 'model')
    save_inference(ClassificationTask(model, mixup=None).export_layer(),
                   paddle.static.InputSpec([None, 3, 80, 80], 'float32', 'x'), {'model': 'deit_distilled'}, out)
    inputs = _classifier_inputs(80)
    return out, inputs, _dygraph(model, inputs)


@pytest.fixture(scope='module')
def regnet_case(tmp_path_factory):
    import ppuhd
    from ppuhd.engine.export import export_classifier
    paddle.seed(0)
    model = ppuhd.create_model('regnety_002', num_classes=10)
    model.eval()
    out = str(tmp_path_factory.mktemp('regnet') / 'model')
    export_classifier(model, 'regnety_002', out)
    inputs = _classifier_inputs(224)
    return out, inputs, _dygraph(model, inputs)


@pytest.mark.parametrize('onednn', ['on', 'off'])
@pytest.mark.parametrize('case', ['uhdfour_case', 'llformer_case', 'edt_case', 'espcn_case', 'ipt_case', 'deit_case',
                                  'deit_distilled_off_grid_case', 'regnet_case'])
def test_default_config_client_equals_dygraph(case, onednn, request, tmp_path):
    model_dir, inputs, expected = request.getfixturevalue(case)
    outputs = _default_client(model_dir, inputs, onednn, tmp_path)
    for key in inputs:
        assert outputs[key].shape == expected[key].shape, key
        # float round-off: oneDNN's kernels and the export formulations against dygraph's kernels
        err = float(np.abs(outputs[key] - expected[key]).max())
        assert err < 1e-4, (key, err)


def test_infer_cfg_and_predictor_agree_on_the_passes_left_out(uhdfour_export, deit_export):
    """infer_cfg.yml tells a default client which passes only cost speed; our predictor deletes exactly those."""
    sys.path.insert(0, os.path.join(ROOT, 'deploy', 'python'))
    from predictor import ONEDNN_SKIPPED_PASSES
    for model_dir in (uhdfour_export[0], deit_export[0]):
        with open(os.path.join(model_dir, 'infer_cfg.yml')) as f:
            note = yaml.safe_load(f)['paddle_inference']
        assert note['delete_passes_for_speed'] == list(ONEDNN_SKIPPED_PASSES) and 'runs' in note['default_config']


def test_export_recommends_the_faster_cpu_path_and_our_predictor_follows_it(edt_case, espcn_case, tmp_path):
    """EDT runs ~8x slower with oneDNN (docs/benchmarks.md): its infer_cfg.yml says onednn: false with the reason,
    our predictor then runs without oneDNN unless told otherwise; ESPCN keeps oneDNN."""
    sys.path.insert(0, os.path.join(ROOT, 'deploy', 'python'))
    from predictor import Predictor, RunOptions
    for (model_dir, _, _), onednn in ((edt_case, False), (espcn_case, True)):
        with open(os.path.join(model_dir, 'infer_cfg.yml')) as f:
            note = yaml.safe_load(f)['paddle_inference']
        assert note['onednn'] is onednn
        assert ('disable_onednn' in note['note']) is (not onednn)
        assert Predictor(model_dir, RunOptions(threads=1)).opts.onednn is onednn
    model_dir = edt_case[0]
    assert Predictor(model_dir, RunOptions(threads=1, onednn=True)).opts.onednn is True
    assert Predictor(model_dir, RunOptions(threads=1, onednn=False)).opts.onednn is False
    deploy_infer = load_script('deploy/python/infer.py')  # --onednn / --no-onednn / the export's default
    for flags, expected in (([], None), (['--onednn'], True), (['--no-onednn'], False)):
        args = deploy_infer.parse_args(['--model-dir', model_dir, '--input', 'x', '--output', 'y'] + flags)
        assert deploy_infer.options(args).onednn is expected
