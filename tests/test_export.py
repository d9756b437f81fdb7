"""tools/export.py: files, infer_cfg.yml, error messages; the exported graph's dynamic shapes."""
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from conftest import DEMO_CFG, ROOT

EXPORT = os.path.join(ROOT, 'tools', 'export.py')


def _export(*args):
    return subprocess.run([sys.executable, EXPORT, *args], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))


def test_export_writes_model_and_infer_cfg(uhdfour_export):
    model_dir = uhdfour_export[0]
    assert {'inference.json', 'inference.pdiparams', 'infer_cfg.yml'} <= set(os.listdir(model_dir))
    with open(os.path.join(model_dir, 'infer_cfg.yml')) as f:
        cfg = yaml.safe_load(f)
    assert cfg['model'] == 'uhdfour' and cfg['task'] == 'enhancement'
    assert cfg['image_io']['size_multiple'] == 8 and cfg['image_io']['pad_mode'] == 'reflect'
    assert cfg['image_io']['scale'] == 1 and cfg['image_io']['min_size'] == 16 and cfg['input']['shape'][1] == 3
    assert cfg['preprocess']['channel_order'] == 'RGB'
    assert cfg['dynamic_shapes']['max'] == [1, 3, 2160, 3840]


def test_exported_graph_has_dynamic_batch_height_width(uhdfour_export):
    from paddle import inference
    config = inference.Config(os.path.join(uhdfour_export[0], 'inference.json'),
                              os.path.join(uhdfour_export[0], 'inference.pdiparams'))
    config.disable_onednn()
    config.set_cpu_math_library_num_threads(1)
    predictor = inference.create_predictor(config)
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    for shape in [(2, 3, 24, 40), (1, 3, 33, 17)]:
        handle.reshape(list(shape))
        handle.copy_from_cpu(np.random.default_rng(0).random(shape, dtype=np.float32))
        predictor.run()
        out = predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
        assert out.shape == shape and np.isfinite(out).all()


def test_export_cli_bad_weights_is_one_clear_error(tmp_path):
    proc = _export('-c', DEMO_CFG, '--weights', str(tmp_path / 'missing.pdparams'), '--output', str(tmp_path / 'o'))
    assert proc.returncode == 2
    assert 'missing.pdparams' in proc.stderr and 'Traceback' not in proc.stderr


def test_export_cli_softmax_needs_a_classifier(uhdfour_export, tmp_path):
    proc = _export('-c', DEMO_CFG, '--weights', uhdfour_export[1], '--output', str(tmp_path / 'o'), '--softmax')
    assert proc.returncode == 2 and 'classifiers only' in proc.stderr


def test_export_cli_onnx_reports_unconvertible_fft(uhdfour_export, tmp_path):
    pytest.importorskip('paddle2onnx')
    out = tmp_path / 'o'
    proc = _export('-c', DEMO_CFG, '--weights', uhdfour_export[1], '--output', str(out), '--onnx')
    assert proc.returncode == 2, proc.stderr
    assert 'cannot convert' in proc.stderr and 'Traceback' not in proc.stderr
    # the Paddle Inference model is complete even though ONNX failed
    assert {'inference.json', 'inference.pdiparams', 'infer_cfg.yml'} <= set(os.listdir(out))


def test_classifier_export_dynamic_batch_and_softmax(deit_export, tmp_path):
    import paddle
    from ppuhd.engine.export import export_classifier
    model_dir, model = deit_export
    with open(os.path.join(model_dir, 'infer_cfg.yml')) as f:
        cfg = yaml.safe_load(f)
    assert cfg['task'] == 'classification' and cfg['num_classes'] == 10 and cfg['output']['name'] == 'logits'
    assert cfg['preprocess']['transform']['img_size'] == 64 and cfg['class_names'][3] == 'class3'
    assert cfg['input']['shape'] == [None, 3, 64, 64]
    with open(os.path.join(model_dir, 'inference.yml')) as f:  # PaddleClas / PaddleX deploy format
        paddleclas = yaml.safe_load(f)
    ops = paddleclas['PreProcess']['transform_ops']
    assert [next(iter(op)) for op in ops] == ['ResizeImage', 'CropImage', 'NormalizeImage', 'ToCHWImage']
    assert ops[0]['ResizeImage'] == {'resize_short': 73, 'interpolation': 'bicubic', 'backend': 'pil'}  # 64 / .875
    assert ops[1]['CropImage']['size'] == 64 and paddleclas['PostProcess']['Topk']['label_list'][3] == 'class3'
    assert cfg['dynamic_shapes']['max'] == [32, 3, 64, 64]
    probs_dir = str(tmp_path / 'probs')
    assert export_classifier(model, 'deit_tiny_patch16_224', probs_dir, softmax=True)['output']['name'] == 'probabilities'
    from paddle import inference
    config = inference.Config(os.path.join(probs_dir, 'inference.json'), os.path.join(probs_dir, 'inference.pdiparams'))
    config.disable_onednn()
    predictor = inference.create_predictor(config)
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    for batch in (1, 5):
        x = np.random.default_rng(batch).random((batch, 3, 64, 64), dtype=np.float32)
        handle.reshape(list(x.shape))
        handle.copy_from_cpu(x)
        predictor.run()
        probs = predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
        expected = paddle.nn.functional.softmax(model(paddle.to_tensor(x)), axis=-1).numpy()
        assert probs.shape == (batch, 10) and np.abs(probs - expected).max() < 1e-5


def test_export_cli_classification_config_softmax_onnx(tmp_path):
    import paddle
    import ppuhd
    pytest.importorskip('paddle2onnx')
    paddle.seed(0)
    weights = str(tmp_path / 'deit.pdparams')
    paddle.save(ppuhd.create_model('deit_tiny_patch16_224', num_classes=10, img_size=64).state_dict(), weights)
    cfg_path = os.path.join(ROOT, 'configs', 'deit', 'deit_demo_student_none.yml')
    out = tmp_path / 'o'
    proc = _export('-c', cfg_path, '--weights', weights, '--output', str(out), '--softmax', '--onnx')
    assert proc.returncode == 0, proc.stderr
    assert 'Paddle Inference: runs' in proc.stdout and 'onednn_placement_pass' in proc.stdout  # the default-client note
    with open(out / 'infer_cfg.yml') as f:
        cfg = yaml.safe_load(f)
    assert cfg['model'] == 'deit_tiny_patch16_224' and cfg['output']['name'] == 'probabilities'
    assert cfg['onnx_file'] == 'model.onnx' and (out / 'model.onnx').is_file()
