"""yjn870/ESPCN-pytorch vs the Paddle port, through the real conversion CLI.

Runs only with torch installed and ``PPUHD_ESPCN_OFFICIAL`` pointing to a checkout of
https://github.com/yjn870/ESPCN-pytorch (a folder with ``models.py``):

    PPUHD_ESPCN_OFFICIAL=/path/to/ESPCN-pytorch python -m pytest tests/test_official_parity_espcn.py -q -s

The official ``ESPCN`` is built with a fixed seed (its own init), biases randomised (their init is 0) and
the last conv scaled from std 0.001 to 0.1 (else the output is nearly its bias), then
saved as a raw state dict (as ``train.py`` saves ``best.pth``), converted with
``tools/convert_weights.py --arch espcn_x{s}`` and loaded strictly; both forwards are raw (``test.py``
clamps afterwards). The official module is loaded as the golden cases load it
(``tests/golden/cases/_espcn_official.py``).
"""
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

import ppuhd
from conftest import ROOT, official_checkout
from golden.cases import _espcn_official as espcn_official

torch = pytest.importorskip('torch')
OFFICIAL = official_checkout('PPUHD_ESPCN_OFFICIAL', 'models.py', 'an ESPCN-pytorch checkout')

TOLERANCE = 1e-4
# case -> (scale, input shape [B, 1, H, W], parameters)
CASES = {'x2': (2, (1, 1, 33, 47), 21_284), 'x3': (3, (2, 1, 17, 17), 22_729), 'x4': (4, (1, 1, 40, 23), 24_752)}


def official_net(scale: int, seed: int = 0):
    torch.manual_seed(seed)
    net = espcn_official.official_model({'official': OFFICIAL}, scale)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.bias.uniform_(-0.05, 0.05)
        net.last_part[0].weight.mul_(100.0)  # std 0.001 -> 0.1: else the output is nearly the constant bias
    return net.eval()


def official_case(name: str):
    """(official net, input, official output) of a case."""
    scale, shape, _ = CASES[name]
    net = official_net(scale)
    x = np.random.default_rng(scale).uniform(0, 1, shape).astype('float32')
    with torch.no_grad():
        return net, x, net(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize('name', list(CASES))
def test_forward_matches(name, tmp_path):
    scale, _, params = CASES[name]
    net, x, ref = official_case(name)
    src, dst = tmp_path / 'espcn.pth', tmp_path / 'espcn.pdparams'
    torch.save(net.state_dict(), src)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'convert_weights.py'), '--arch',
                           f'espcn_x{scale}', '--src', str(src), '--dst', str(dst)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    model = ppuhd.create_model(f'espcn_x{scale}')
    assert sum(int(p.numel()) for p in model.parameters()) == sum(p.numel() for p in net.parameters()) == params
    model.set_state_dict(paddle.load(str(dst)))
    model.eval()
    with paddle.no_grad():
        ours = model(paddle.to_tensor(x)).numpy()
    error = float(np.linalg.norm(ours - ref) / np.linalg.norm(ref))
    print(f'\nespcn {name} {list(x.shape)} -> {list(ref.shape)}: rel L2 {error:.2e}')
    assert ours.shape == ref.shape == (x.shape[0], 1, x.shape[2] * scale, x.shape[3] * scale)
    assert error < TOLERANCE
