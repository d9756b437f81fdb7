"""Shared fixtures: the repo root on sys.path, a tiny paired dataset, a tiny training config."""
import os
import sys

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, ROOT)


def official_checkout(env: str, marker: str, what: str) -> str:
    """The official code the parity tests run against: the folder in ``$env``, recognised by the file ``marker``
    inside it (a folder when ``marker`` ends with ``/``); the calling test module is skipped, saying what to
    set, when it is not there."""
    path = os.environ.get(env, '')
    found = os.path.isdir if marker.endswith('/') else os.path.isfile
    if not found(os.path.join(path, marker)):
        pytest.skip(f'set {env} to {what}', allow_module_level=True)
    return path


def load_script(relpath):
    """Import a script by its path (tools/infer.py and deploy/python/infer.py share a module name, so
    `import infer` depends on which folder another test put first on sys.path)."""
    import importlib.util
    name = '_script_' + relpath.replace('/', '_').replace('.', '_')
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, relpath))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def write_pairs(folder_lq, folder_gt, n, size, seed):
    """Low/normal pairs where gt is a smooth real-looking gradient image and lq a darkened copy."""
    import cv2
    rng = np.random.default_rng(seed)
    os.makedirs(folder_lq, exist_ok=True)
    os.makedirs(folder_gt, exist_ok=True)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    for i in range(n):
        phase = rng.uniform(0, 6, 3)
        gt = np.stack([0.5 + 0.4 * np.sin(4 * xx + 3 * yy + p) for p in phase], -1)
        lq = gt * rng.uniform(0.1, 0.3) + rng.normal(0, 0.01, gt.shape)
        for folder, img in ((folder_gt, gt), (folder_lq, lq)):
            bgr = (np.clip(img, 0, 1) * 255).round().astype('uint8')[..., ::-1]
            cv2.imwrite(os.path.join(folder, f'img{i:03d}.png'), bgr)


@pytest.fixture(scope='session')
def tiny_uhdll(tmp_path_factory):
    """A UHD-LL-layout dataset: 8 train pairs 48x48, 2 test pairs 40x44 (not a multiple of 8)."""
    root = tmp_path_factory.mktemp('tiny_uhdll')
    write_pairs(root / 'training_set' / 'input', root / 'training_set' / 'gt', 8, (48, 48), 0)
    write_pairs(root / 'testing_set' / 'input', root / 'testing_set' / 'gt', 2, (40, 44), 1)
    return str(root)


def tiny_overrides(data_root, out_dir, iters=6, interval=3):
    """-o overrides that shrink configs/uhdfour/uhdfour_demo.yml to a seconds-long CPU run."""
    return [f'data.train.root={data_root!r}', f'data.val.root={data_root!r}', 'data.train.crop_size=32',
            'data.batch_size=2', f'output_dir={str(out_dir)!r}', f'train.total_iters={iters}',
            f'train.save_interval={interval}', f'train.eval_interval={interval}', 'train.log_interval=1',
            'lr_scheduler.warmup_iters=2', 'num_threads=1', 'device="cpu"', 'eval.log_images=1']


DEMO_CFG = os.path.join(ROOT, 'configs', 'uhdfour', 'uhdfour_demo.yml')


@pytest.fixture(scope='session')
def uhdfour_export(tmp_path_factory):
    """UHDFour with seeded random weights exported once per session: (export dir, weights path)."""
    import paddle
    import ppuhd
    from ppuhd.config import get_config
    from ppuhd.engine.export import export_model
    root = tmp_path_factory.mktemp('uhdfour_export')
    paddle.seed(0)
    weights = str(root / 'uhdfour.pdparams')
    paddle.save(ppuhd.create_model('uhdfour').state_dict(), weights)
    export_model(get_config(DEMO_CFG), weights, str(root / 'model'))
    return str(root / 'model'), weights


@pytest.fixture(scope='session')
def deit_export(tmp_path_factory):
    """A tiny DeiT (64x64 input, 10 classes, seeded) exported once per session, with ONNX when paddle2onnx
    is installed: (export dir, model)."""
    import importlib.util
    import paddle
    import ppuhd
    from ppuhd.engine.export import export_classifier
    paddle.seed(0)
    model = ppuhd.create_model('deit_tiny_patch16_224', img_size=64, num_classes=10)
    model.eval()
    out = str(tmp_path_factory.mktemp('deit_export') / 'model')
    export_classifier(model, 'deit_tiny_patch16_224', out, onnx=importlib.util.find_spec('paddle2onnx') is not None,
                      class_names=[f'class{i}' for i in range(10)])
    return out, model


@pytest.fixture(scope='session')
def llformer_export(tmp_path_factory):
    """LLFormer (seeded) exported with a small tiling (32x48 tiles, 8 px overlap, cosine blend): (dir, task)."""
    import paddle
    import ppuhd
    from ppuhd.engine import build_task
    from ppuhd.engine.export import export_model
    root = tmp_path_factory.mktemp('llformer_export')
    paddle.seed(0)
    weights = str(root / 'llformer.pdparams')
    paddle.save(ppuhd.create_model('llformer').state_dict(), weights)
    cfg = {'model': {'type': 'llformer'}, 'model_weights': weights,
           'task': {'type': 'EnhancementTask', 'losses': [],
                    'tiling': {'tile': [32, 48], 'overlap': [8, 8], 'blend': 'cosine'}}}
    export_model(cfg, weights, str(root / 'model'))
    task = build_task(cfg, inference=True)
    task.eval()
    return str(root / 'model'), task
