"""Official PyTorch LLFormer vs the Paddle port, through the real conversion CLI.

Runs only with torch and einops installed and ``PPUHD_LLFORMER_OFFICIAL`` pointing to a
checkout of https://github.com/TaoWangzj/LLFormer (a folder with ``model/LLFormer.py`` and
``test_UHD.py``):

    PPUHD_LLFORMER_OFFICIAL=/path/to/LLFormer python -m pytest tests/test_official_parity_llformer.py -q -s

The official network (released config) is built with a fixed seed, its scalar/skip
parameters randomised so that a mix-up cannot pass, saved as ``{'state_dict': ...}`` of a
DataParallel model, converted with ``tools/convert_weights.py`` and loaded strictly. The
tiled comparison runs ``test_UHD.py``'s own ``image_to_patches`` / ``patches_to_image``
(taken from the file, ``.cuda()`` made a no-op) with a reduced tile, since both take the
tile size as a parameter (one 720x1280 tile takes minutes and 11 GB on this CPU).
"""
import ast
import importlib.util
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

import ppuhd
from conftest import ROOT, official_checkout
from ppuhd.inference import make_tiling, paddle_tile_fn, tiled_predict

torch = pytest.importorskip('torch')
pytest.importorskip('einops')
OFFICIAL = official_checkout('PPUHD_LLFORMER_OFFICIAL', os.path.join('model', 'LLFormer.py'), 'a LLFormer checkout')

TOLERANCE = 1e-4
OFFICIAL_PARAMS = 24_549_014


def _official_net(seed=0):
    spec = importlib.util.spec_from_file_location('official_llformer', os.path.join(OFFICIAL, 'model', 'LLFormer.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(seed)
    # the arguments of test_UHD.py
    net = module.LLFormer(inp_channels=3, out_channels=3, dim=16, num_blocks=[2, 4, 8, 16], num_refinement_blocks=2,
                          heads=[1, 2, 4, 8], ffn_expansion_factor=2.66, bias=False, LayerNorm_type='WithBias',
                          attention=True, skip=False)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith(('fac', 'temperature')) or 'coefficient' in name or 'norm' in name:
                p.uniform_(0.5, 1.5)
    return net.eval()


def _official_tiling_functions(monkeypatch):
    """``image_to_patches`` and ``patches_to_image`` from test_UHD.py, without running its script part."""
    source = open(os.path.join(OFFICIAL, 'test_UHD.py')).read()
    wanted = [n for n in ast.parse(source).body
              if isinstance(n, ast.FunctionDef) and n.name in ('image_to_patches', 'patches_to_image')]
    # torchvision's TF.crop for in-bounds boxes (torchvision's CPU wheel does not import next to torch 2.13 here)
    namespace = {'torch': torch, 'crop': lambda img, top, left, height, width: img[..., top:top + height,
                                                                                      left:left + width]}
    exec(compile(ast.Module(body=wanted, type_ignores=[]), 'test_UHD.py', 'exec'), namespace)
    monkeypatch.setattr(torch.Tensor, 'cuda', lambda self: self, raising=False)
    return namespace['image_to_patches'], namespace['patches_to_image']


@pytest.fixture(scope='module')
def pair(tmp_path_factory):
    net = _official_net()
    tmp = tmp_path_factory.mktemp('llformer')
    src, dst = tmp / 'official.pth', tmp / 'llformer.pdparams'
    torch.save({'state_dict': {f'module.{k}': v for k, v in net.state_dict().items()}}, src)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'convert_weights.py'), '--arch', 'llformer',
                           '--src', str(src), '--dst', str(dst)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    print(f'\n{proc.stdout}')
    assert 'coefficient' in proc.stdout and 'skip_2_1' in proc.stdout
    model = ppuhd.create_model('llformer')
    model.set_state_dict(paddle.load(str(dst)))
    model.eval()
    return net, model


def _rel_l2(ours, ref):
    return float(np.linalg.norm(ours - ref) / np.linalg.norm(ref))


def test_parameter_counts(pair):
    net, model = pair
    ours = sum(int(p.numel()) for p in model.parameters())
    assert sum(p.numel() for p in net.parameters()) == OFFICIAL_PARAMS
    assert ours == OFFICIAL_PARAMS - 2_048 == 24_546_966


@pytest.mark.parametrize('shape', [(1, 3, 64, 96), (2, 3, 48, 80), (1, 3, 50, 70)], ids=lambda s: 'x'.join(map(str, s)))
def test_whole_image_matches(pair, shape):
    net, model = pair
    x = np.random.default_rng(sum(shape)).uniform(0, 1, shape).astype('float32')
    h, w = shape[2:]
    padded = torch.nn.functional.pad(torch.from_numpy(x), (0, (-w) % 16, 0, (-h) % 16), 'reflect')
    with torch.no_grad():
        ref = net(padded)[:, :, :h, :w].numpy()
    with paddle.no_grad():
        ours = model(paddle.to_tensor(x)).numpy()
    error = _rel_l2(ours, ref)
    print(f'llformer {shape}: rel L2 {error:.2e}')
    assert error < TOLERANCE


def _official_tiled(net, image, patch_size, stride, monkeypatch):
    """test_UHD.py's per-image loop on a CHW float image (reduced tile size)."""
    image_to_patches, patches_to_image = _official_tiling_functions(monkeypatch)
    F = torch.nn.functional
    input_ = torch.from_numpy(image)[None]
    mul = 16
    h, w = input_.shape[2], input_.shape[3]
    H, W = ((h + mul) // mul) * mul, ((w + mul) // mul) * mul
    padh = H - h if h % mul != 0 else 0
    padw = W - w if w % mul != 0 else 0
    input_ = F.pad(input_, (0, padw, 0, padh), 'reflect')
    patches, corners = image_to_patches(input_[0], patch_size, stride)
    restored_patches = []
    with torch.no_grad():
        for batch_patch in patches.split(1):
            restored_patches.extend(net(batch_patch))
    restored = patches_to_image(restored_patches, corners, patch_size, (3, H, W)).unsqueeze(0)
    return torch.clamp(restored, 0, 1)[:, :, :h, :w][0].numpy()


@pytest.mark.parametrize('size', [(90, 120), (96, 128)], ids=lambda s: 'x'.join(map(str, s)))
def test_official_tiling_matches(pair, size, monkeypatch):
    net, model = pair
    image = np.random.default_rng(size[0]).uniform(0, 0.5, (3,) + size).astype('float32')
    tile, stride = (48, 64), (24, 32)
    ref = _official_tiled(net, image, tile, stride, monkeypatch)
    cfg = make_tiling({'preset': 'official_uhd', 'tile': list(tile), 'stride': list(stride)})
    ours = tiled_predict(paddle_tile_fn(model), image, cfg)
    error = _rel_l2(ours, ref)
    print(f'llformer official tiling {size}, tile {tile} stride {stride}: rel L2 {error:.2e}')
    assert np.isfinite(ref).all() and error < TOLERANCE
