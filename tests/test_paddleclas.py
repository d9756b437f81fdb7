"""Our classifier export run by PaddleClas 2.6's own ``deploy/python/predict_cls.py`` with the ``inference.yml``
the export writes (PreProcess / PostProcess in PaddleClas's format, from the same val transform as infer_cfg.yml),
on real photos: the same top-5 as our predictor.

PaddleClas 2.6 pins numpy 1.24 and opencv <= 4.6, so ``make install`` puts the package beside the virtualenv
without its dependencies (``pip install --no-deps --target .venv/paddleclas paddleclas==2.6.0``); its deploy code
needs only numpy, cv2, PIL, yaml, six and paddle, and runs here with the package's heavy ``__init__`` skipped.
"""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml
from skimage import data as skdata

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, 'deploy', 'python'))
from predictor import Predictor, RunOptions  # noqa: E402

PADDLECLAS = os.environ.get('PPUHD_PADDLECLAS', os.path.join(sys.prefix, 'paddleclas'))
pytestmark = pytest.mark.skipif(not os.path.isdir(os.path.join(PADDLECLAS, 'paddleclas', 'deploy')),
                                reason=f'PaddleClas 2.6 not found in {PADDLECLAS} (make install puts it there)')

# run predict_cls.py's own __main__ (its argparse, config, predictor, pre/post-processing) without
# paddleclas/__init__.py, which imports the training package and its dependencies. PaddleClas 2.6 calls
# Config.enable_memory_optim(), which Paddle Inference 3.x refuses for every PIR model ("Not find predictor_id 0
# and pass_name memory_optimize_pass", PaddlePaddle/PaddleCustomDevice#1619; shown below on a plain conv graph
# that is not ours): with PATCH the call is a no-op, the only change to PaddleClas's run.
_RUN = """
import runpy, sys, types
if sys.argv[2] == 'patch':
    from paddle.inference import Config
    Config.enable_memory_optim = lambda self, *args: None
pkg = types.ModuleType('paddleclas'); pkg.__path__ = [sys.argv[1] + '/paddleclas']; sys.modules['paddleclas'] = pkg
script = sys.argv[1] + '/paddleclas/deploy/python/predict_cls.py'
sys.argv = [script] + sys.argv[3:]
runpy.run_path(script, run_name='__main__')
"""
PHOTOS = {'astronaut': skdata.astronaut, 'chelsea': skdata.chelsea, 'coffee': skdata.coffee,
          'rocket': skdata.rocket, 'motorcycle': lambda: skdata.stereo_motorcycle()[0]}


@pytest.fixture(scope='module')
def export(tmp_path_factory):
    import paddle
    import ppuhd
    from ppuhd.engine.export import export_classifier
    from ppuhd.utils.image_io import write_image
    root = tmp_path_factory.mktemp('paddleclas')
    paddle.seed(0)
    model = ppuhd.create_model('deit_tiny_patch16_224', num_classes=10)
    export_classifier(model, 'deit_tiny_patch16_224', str(root / 'model'), softmax=True,
                      class_names=[f'class{i}' for i in range(10)])
    for name, photo in PHOTOS.items():
        write_image(str(root / 'photos' / f'{name}.png'), photo())
    return root


def _paddleclas_top5(root, mkldnn, patch='patch'):
    with open(root / 'model' / 'inference.yml') as f:
        deploy = yaml.safe_load(f)
    config = {'Global': {'infer_imgs': str(root / 'photos'), 'inference_model_dir': str(root / 'model'),
                         'batch_size': 1, 'use_gpu': False, 'enable_mkldnn': mkldnn, 'cpu_num_threads': 1,
                         'enable_benchmark': False, 'use_fp16': False, 'ir_optim': True, 'use_tensorrt': False,
                         'gpu_mem': 8000, 'enable_profile': False},
              # the PostProcess of PaddleClas's inference_cls.yaml: our Topk (with the class names) as its main output
              'PreProcess': deploy['PreProcess'], 'PostProcess': {'main_indicator': 'Topk', **deploy['PostProcess']}}
    cfg_path = root / f'predict_cls_{mkldnn}.yaml'
    cfg_path.write_text(yaml.safe_dump(config))
    proc = subprocess.run([sys.executable, '-c', _RUN, PADDLECLAS, patch, '-c', str(cfg_path)], capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS='1'))
    if patch != 'patch':
        return proc
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = re.findall(r'^(\S+\.png):\s+class id\(s\): (\[[^\]]*\])', proc.stdout, re.M)
    return {name: json.loads(ids) for name, ids in found}


def test_export_writes_paddleclas_inference_yml(export):
    with open(export / 'model' / 'inference.yml') as f:
        deploy = yaml.safe_load(f)
    ops = [next(iter(op)) for op in deploy['PreProcess']['transform_ops']]
    assert ops == ['ResizeImage', 'CropImage', 'NormalizeImage', 'ToCHWImage']
    assert deploy['PreProcess']['transform_ops'][0]['ResizeImage']['resize_short'] == 256  # int(224 / 0.875)
    assert deploy['PostProcess']['Topk']['label_list'][3] == 'class3'


@pytest.mark.parametrize('mkldnn', [False, True])
def test_paddleclas_predict_cls_gives_our_top5(export, mkldnn):
    from ppuhd.utils.image_io import read_image
    ours = Predictor(str(export / 'model'), RunOptions(threads=1))
    theirs = _paddleclas_top5(export, mkldnn)
    assert sorted(theirs) == sorted(f'{name}.png' for name in PHOTOS)
    for name, ids in theirs.items():
        top5 = [t['index'] for t in ours.classify(read_image(str(export / 'photos' / name)), topk=5)]
        assert ids == top5, name
    scores = ours.classify_batch([read_image(str(export / 'photos' / n)) for n in sorted(theirs)])
    assert np.allclose(scores.sum(axis=1), 1, atol=1e-4)  # --softmax: probabilities, as PaddleClas's Topk expects


def test_paddleclas_2_6_fails_on_any_paddle_3_graph_without_the_patch(export, tmp_path):
    """Why the runner patches enable_memory_optim: unpatched, PaddleClas 2.6 fails on a plain conv graph exported
    by paddle.jit.save (nothing of ppuhd) exactly as on ours, inside create_predictor."""
    import paddle
    net = paddle.nn.Sequential(paddle.nn.Conv2D(3, 10, 3, stride=8), paddle.nn.AdaptiveAvgPool2D(1), paddle.nn.Flatten())
    net.eval()
    plain = tmp_path / 'plain'
    paddle.jit.save(paddle.jit.to_static(net, input_spec=[paddle.static.InputSpec([None, 3, 224, 224], 'float32')],
                                         full_graph=True), str(plain / 'model' / 'inference'))
    (plain / 'model' / 'inference.yml').write_text((export / 'model' / 'inference.yml').read_text())
    os.symlink(export / 'photos', plain / 'photos')
    for root in (export, plain):
        proc = _paddleclas_top5(root, False, patch='no')
        assert proc.returncode != 0 and 'memory_optimize_pass' in proc.stderr
