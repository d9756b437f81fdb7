"""Official PyTorch EDT vs the Paddle port, through the real conversion CLI.

Runs only with torch and easydict installed and ``PPUHD_EDT_OFFICIAL`` pointing to a checkout of
https://github.com/fenglinglwb/EDT (a folder with ``utils/modules/edt.py``, ``configs/`` and
``test_sample.py``):

    pip install torch==2.13.0 easydict
    PPUHD_EDT_OFFICIAL=/path/to/EDT python -m pytest tests/test_official_parity_edt.py -q -s

Each case builds the official ``Network`` from an official config file with a fixed seed, its
LayerNorm and Linear-bias parameters randomised too (their init is 1 / 0, so a mix-up would
pass), saves the raw state dict (attention-mask buffers included, as the released files),
converts it with ``tools/convert_weights.py`` and loads it strictly. The official side runs the
``test_sample.py`` pipeline (flip-concatenation pad to ``(h // m + 1) * m``, model on the list of
inputs, crop); ours is the model's eval ``forward`` on the raw inputs. Both the whole output and
its learned part (the output minus the bilinear-upsampled or identity input path, which
dominates the output's norm) must agree to rel L2 < 1e-4.

The official code runs as the golden cases run it (``tests/golden/cases/_edt_official.py``: ``Network`` of a
config, ``test_sample.py``'s pipeline, a three-name stand-in for the timm imports of ``edt.py`` where timm does
not import, as here: identity DropPath, ``torch.nn.init.trunc_normal_``); neither affects an eval forward, and
the training-mode case runs both sides without stochastic depth.
"""
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

import ppuhd
from conftest import ROOT, official_checkout
from golden.cases import _edt_official as edt_official

torch = pytest.importorskip('torch')
pytest.importorskip('easydict')
OFFICIAL = official_checkout('PPUHD_EDT_OFFICIAL', os.path.join('utils', 'modules', 'edt.py'), 'an EDT checkout')

TOLERANCE = 1e-4
# case -> (official config, our arch, input shapes (one per task), official parameter count). test_sample.py's
# single flip-concatenation needs pad <= side, i.e. sides >= 12 (SR) and >= 48 (denoise, derain).
CASES = {
    't_x2_divisible': ('SRx2_EDTT_Div2kFlickr2K', 'edt_t_sr_x2', [(1, 3, 48, 48)], 916_924),
    't_x3_odd': ('SRx3_EDTT_Div2kFlickr2K', 'edt_t_sr_x3', [(1, 3, 29, 43)], 919_099),
    't_x4_batch2': ('SRx4_EDTT_Div2kFlickr2K', 'edt_t_sr_x4', [(2, 3, 25, 30)], 922_144),
    's_x2': ('SRx2_EDTS_Div2kFlickr2K', 'edt_s_sr_x2', [(1, 3, 30, 22)], 4_230_323),
    'b_x2': ('SRx2_EDTB_Div2kFlickr2K', 'edt_b_sr_x2', [(1, 3, 26, 35)], 11_479_355),
    'b_x3': ('SRx3_EDTB_Div2kFlickr2K', 'edt_b_sr_x3', [(1, 3, 20, 27)], 11_663_995),
    'b_x4': ('SRx4_EDTB_Div2kFlickr2K', 'edt_b_sr_x4', [(1, 3, 23, 19)], 11_627_067),
    'l_x2': ('SRx2_EDTL_Div2kFlickr2K', 'edt_l_sr_x2', [(1, 3, 20, 21)], 39_927_395),
    'b_dn_g25': ('DNg25_EDTB_D4', 'edt_b_dn', [(1, 3, 70, 50)], 11_503_163),
    'b_dr_heavy': ('DRhs_EDTB_RAIN100H__DRhs_ImageNet200K', 'edt_b_dr', [(1, 3, 61, 97)], 11_503_163),
    'pretrain_t_x2x3x4': ('SRx2x3x4_EDTT_ImageNet200K', 'edt_t_sr_x2x3x4',
                          [(1, 3, 30, 30), (1, 3, 20, 25), (1, 3, 17, 23)], 1_137_537),
    'pretrain_b_x2x3dn15': ('SRx2x3DNg15_EDTB_ImageNet200K', 'edt_b_sr_x2x3_dn_g15',
                            [(1, 3, 22, 26), (1, 3, 18, 21), (1, 3, 50, 60)], 14_453_033),
    'pretrain_b_dn3': ('DNg15g25g50_EDTB_ImageNet200K', 'edt_b_dn_g15g25g50',
                       [(1, 3, 50, 60), (1, 3, 60, 50), (1, 3, 96, 96)], 14_316_009),
    'pretrain_b_dr2': ('DRlshs_EDTB_ImageNet200K', 'edt_b_dr_lshs', [(1, 3, 49, 51), (1, 3, 57, 70)], 12_909_586),
}


def official_net(config_name: str, seed: int = 0):
    """The official Network of a config, seeded, with non-default LayerNorm and Linear-bias values."""
    torch.manual_seed(seed)
    net = edt_official.network(OFFICIAL, config_name)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
            elif isinstance(m, torch.nn.Linear):
                m.bias.uniform_(-0.02, 0.02)
    return net.eval()


def official_predict(net, inputs):
    """(outputs, scales) of test_sample.py's pipeline (``tests/golden/cases/_edt_official.py``) on numpy inputs."""
    with torch.no_grad():
        preds = edt_official.test_sample(net, [torch.from_numpy(x) for x in inputs])
    return [p.numpy() for p in preds], edt_official.task_scales(net.test_config)


def case_inputs(name: str):
    shapes = CASES[name][2]
    rng = np.random.default_rng(len(name))
    return [rng.uniform(0, 1, shape).astype('float32') for shape in shapes]


def official_case(name: str):
    """(official net, inputs, official outputs, scales) of a case."""
    net = official_net(CASES[name][0])
    inputs = case_inputs(name)
    outputs, scales = official_predict(net, inputs)
    return net, inputs, outputs, scales


def convert_with_cli(net, arch: str, tmp_path):
    src, dst = tmp_path / 'official.pth', tmp_path / f'{arch}.pdparams'
    torch.save(net.state_dict(), src)  # a raw state dict, as the released files
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'convert_weights.py'), '--arch', arch,
                           '--src', str(src), '--dst', str(dst)], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr
    return str(dst), proc.stdout


def _rel_l2(ours, ref):
    return float(np.linalg.norm(ours - ref) / np.linalg.norm(ref))


def _input_path(x, scale):
    """The output's fixed part: bilinear x scale of the input (SR) or the input itself."""
    if scale == 1:
        return x
    return torch.nn.functional.interpolate(torch.from_numpy(x), scale_factor=scale, mode='bilinear',
                                           align_corners=False).numpy()


@pytest.mark.parametrize('name', list(CASES))
def test_eval_forward_matches_test_sample(name, tmp_path):
    config_name, arch, _, params = CASES[name]
    net, inputs, refs, scales = official_case(name)
    assert sum(p.numel() for p in net.parameters()) == params
    weights, log = convert_with_cli(net, arch, tmp_path)
    print(f'\n{log.strip()}')
    model = ppuhd.create_model(arch)
    assert sum(int(p.numel()) for p in model.parameters()) == params
    model.set_state_dict(paddle.load(weights))
    model.eval()
    with paddle.no_grad():
        out = model([paddle.to_tensor(x) for x in inputs] if len(inputs) > 1 else paddle.to_tensor(inputs[0]))
    outs = [o.numpy() for o in out] if isinstance(out, list) else [out.numpy()]
    for task, x, ours, ref, s in zip(model.tasks, inputs, outs, refs, scales):
        assert ours.shape == ref.shape
        fixed = _input_path(x, s)
        whole, learned = _rel_l2(ours, ref), _rel_l2(ours - fixed, ref - fixed)
        print(f'{name} {task} {list(x.shape)} -> {list(ref.shape)}: rel L2 {whole:.2e}, learned part {learned:.2e}')
        assert whole < TOLERANCE and learned < TOLERANCE


def test_denoise_converter_logs_the_level(tmp_path):
    net = official_net('DNg50_EDTB_D4')
    _, log = convert_with_cli(net, 'edt_b_dn', tmp_path)
    assert 'level g50' in log and 'head_dn_g50' in log


def test_multi_task_training_forward_matches(tmp_path):
    """Training mode, no padding: our heads, one body on the batch of all head outputs (the official path
    with ``gt``), tails; against the official network on the same unpadded crops."""
    config_name, arch = 'SRx2x3DNg15_EDTB_ImageNet200K', 'edt_b_sr_x2x3_dn_g15'
    net = official_net(config_name)
    weights, _ = convert_with_cli(net, arch, tmp_path)
    model = ppuhd.create_model(arch, drop_path_rate=0.0)  # the stand-in DropPath is the identity
    model.set_state_dict(paddle.load(weights))
    model.train()
    rng = np.random.default_rng(7)
    lqs = [rng.uniform(0, 1, shape).astype('float32') for shape in ((2, 3, 48, 48), (2, 3, 48, 48), (2, 3, 192, 192))]
    net.train()
    with torch.no_grad():
        refs = [r.numpy() for r in net([torch.from_numpy(x) for x in lqs])]
    outs = [o.numpy() for o in model([paddle.to_tensor(x) for x in lqs])]
    for task, ours, ref in zip(model.tasks, outs, refs):
        error = _rel_l2(ours, ref)
        print(f'training-mode {task} {list(ref.shape)}: rel L2 {error:.2e}')
        assert ours.shape == ref.shape and error < TOLERANCE
