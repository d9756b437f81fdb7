"""LLFormer: released size, forward at odd sizes, gradients, converter strictness, 9-way augmentation,
uint8 metric protocol, extract_subimages, and a short run through tools/train.py."""
import os
import subprocess
import sys

import cv2
import numpy as np
import paddle
import pytest

import ppuhd
from conftest import ROOT
from ppuhd.data.transforms import nine_way_flip_rot
from ppuhd.metrics import psnr, quantize_uint8, ssim
from ppuhd.models.convert import convert_state_dict
from ppuhd.models.llformer import LLFormer

RELEASED_PARAMS = 24_546_966  # official 24,549,014 minus the unused coefficient (1,024) and skip_2_1 (1,024)
SMALL = dict(dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1, heads=(1, 2, 2, 4))


@pytest.fixture(scope='module')
def released():
    paddle.seed(0)
    return ppuhd.create_model('llformer').eval()


def test_released_parameter_count_and_odd_size_forward(released):
    assert sum(int(p.numel()) for p in released.parameters()) == RELEASED_PARAMS
    assert released.image_io.size_multiple == 16
    x = paddle.rand([1, 3, 21, 35])  # neither side a multiple of 16
    with paddle.no_grad():
        y = released(x)
    assert y.shape == [1, 3, 21, 35] and bool(paddle.isfinite(y).all())


def test_padding_inside_equals_padding_outside():
    paddle.seed(1)
    model = LLFormer(**SMALL).eval()
    x = paddle.rand([1, 3, 20, 30])
    padded = paddle.nn.functional.pad(x, [0, 2, 0, 12], mode='reflect')
    with paddle.no_grad():
        np.testing.assert_allclose(model(x).numpy(), model(padded)[:, :, :20, :30].numpy(), atol=1e-6)


def test_attention_and_fusion_biases_are_always_on():
    model = LLFormer(**SMALL, bias=False)
    names = {n for n, _ in model.named_parameters()}
    assert 'encoder_1.0.attn.row_att.q1.bias' in names and 'layer_fussion.qkv.bias' in names
    assert 'encoder_1.0.ffn.project_in.bias' not in names and 'output.bias' not in names


def _official_like_state(model):
    state = {f'module.{k}': v.numpy() for k, v in model.state_dict().items()}
    state['module.coefficient'] = np.ones((4, 2, 128), 'float32')
    state['module.skip_2_1.weight'] = np.zeros((32, 32, 1, 1), 'float32')
    return state


def test_converter_is_strict_and_lists_unused(released):
    state = _official_like_state(released)
    converted, report = convert_state_dict('llformer', {'state_dict': state}['state_dict'])
    assert report.kept_params == RELEASED_PARAMS and report.dropped_params == 2048
    assert set(report.dropped) == {'module.coefficient', 'module.skip_2_1'}
    np.testing.assert_array_equal(converted['output.weight'], state['module.output.weight'])
    broken = dict(state)
    del broken['module.latent.0.ffn.dwconv.weight']
    broken['module.extra.weight'] = np.zeros(3, 'float32')
    broken['module.output.weight'] = np.zeros((3, 16, 1, 1), 'float32')
    with pytest.raises(ValueError) as err:
        convert_state_dict('llformer', broken)
    for text in ('latent.0.ffn.dwconv.weight', 'extra.weight', 'output.weight'):
        assert text in str(err.value)


def test_nine_way_matches_the_official_table():
    img = np.arange(12, dtype='float32').reshape(3, 4, 1)
    outcomes = {}
    rng = np.random.default_rng(0)
    for _ in range(900):
        out = nine_way_flip_rot([img], rng)[0]
        outcomes[out.tobytes()] = outcomes.get(out.tobytes(), 0) + 1
    # official ops: identity (twice), flip H, flip W, rot90 k=1..3, rot90(flip H), rot90(flip W)
    expected = [img, img[::-1], img[:, ::-1], np.rot90(img, 1), np.rot90(img, 2), np.rot90(img, 3),
                np.rot90(img[::-1], 1), np.rot90(img[:, ::-1], 1)]
    assert set(outcomes) == {e.tobytes() for e in expected}
    assert 150 < outcomes[img.tobytes()] < 250  # identity has probability 2/9


def test_uint8_protocol_matches_skimage_on_saved_images():
    metrics = pytest.importorskip('skimage.metrics')
    rng = np.random.default_rng(3)
    gt = rng.integers(0, 256, (40, 48, 3)).astype('uint8')
    pred = np.clip(gt / 255.0 + rng.normal(0, 0.05, gt.shape), -0.1, 1.1)
    saved = (np.clip(pred, 0, 1) * 255).round().astype('uint8')  # what writing the PNG stores
    assert abs(psnr(pred, gt / 255.0, quantize=True) - metrics.peak_signal_noise_ratio(gt, saved)) < 1e-9
    assert abs(ssim(pred, gt / 255.0, quantize=True)
               - metrics.structural_similarity(gt, saved, channel_axis=-1)) < 1e-9
    assert psnr(pred, gt / 255.0, quantize=True) != psnr(pred, gt / 255.0)
    img_as_ubyte = pytest.importorskip('skimage').img_as_ubyte  # what test_UHD.py saves
    out = rng.uniform(0, 1, 200_000).astype('float32')
    np.testing.assert_array_equal(quantize_uint8(out) * 255.0, img_as_ubyte(out))


def _run(args, **kw):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=600, **kw)


def test_extract_subimages_is_idempotent_and_reports_bad_files(tmp_path):
    src, dst = tmp_path / 'src', tmp_path / 'dst'
    src.mkdir()
    img = np.random.default_rng(4).integers(0, 256, (100, 150, 3)).astype('uint8')
    cv2.imwrite(str(src / 'a.png'), img)
    (src / 'bad.png').write_bytes(b'not an image')
    tool = os.path.join(ROOT, 'tools', 'extract_subimages.py')
    args = [tool, '--input', str(src), '--output', str(dst), '--crop-size', '40', '60', '--step', '30', '45']
    first = _run(args)
    assert first.returncode == 1 and 'bad.png' in first.stderr
    names = sorted(os.listdir(dst))
    assert names[0] == 'a_s001.png' and len(names) == 3 * 3
    # official extract_subimages_UHD.py: the last crop is flush with the border
    np.testing.assert_array_equal(cv2.imread(str(dst / names[-1])), img[60:100, 90:150])
    mtime = os.path.getmtime(dst / names[0])
    second = _run(args)
    assert second.returncode == 1 and 'skipped 1 existing' in second.stdout
    assert os.path.getmtime(dst / names[0]) == mtime and sorted(os.listdir(dst)) == names


def test_short_training_run_through_tools_train(tiny_uhdll, tmp_path):
    cfg = os.path.join(ROOT, 'configs', 'llformer', 'llformer_demo.yml')
    overrides = [f'data.train.root={tiny_uhdll!r}', f'data.val.root={tiny_uhdll!r}', 'data.train.crop_size=32',
                 'data.batch_size=2', f'output_dir={str(tmp_path)!r}', 'train.total_iters=2',
                 'train.eval_interval=2', 'train.save_interval=2', 'train.log_interval=1',
                 'lr_scheduler.warmup_iters=1', 'num_threads=1', 'device="cpu"', 'eval.log_images=0',
                 'model.num_blocks=[1,1,1,1]', 'model.num_refinement_blocks=1']
    proc = _run([os.path.join(ROOT, 'tools', 'train.py'), '-c', cfg, *[a for o in overrides for a in ('-o', o)]])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / 'final_model.pdparams').exists() and 'iter 2/2' in proc.stderr + proc.stdout


def test_lpips_matches_a_torch_reference_with_synthetic_weights(tmp_path):
    torch = pytest.importorskip('torch')
    from ppuhd.metrics import METRICS
    from ppuhd.metrics.lpips import _CONVS, convert_lpips_weights
    rng = np.random.default_rng(5)
    alexnet = {}
    for i, cin, cout, k, _, _ in _CONVS:
        alexnet[f'features.{i}.weight'] = rng.normal(0, (cin * k * k) ** -0.5, (cout, cin, k, k)).astype('float32')
        alexnet[f'features.{i}.bias'] = rng.normal(0, 0.1, cout).astype('float32')
    lin = {f'lin{k}.model.1.weight': rng.uniform(0, 0.2, (1, c[2], 1, 1)).astype('float32')
           for k, c in enumerate(_CONVS)}
    path = str(tmp_path / 'lpips.pdparams')
    paddle.save({k: paddle.to_tensor(v) for k, v in convert_lpips_weights(alexnet, lin).items()}, path)
    a, b = (rng.integers(0, 256, (64, 64, 3)).astype('uint8') for _ in range(2))

    def reference(img):  # lpips.LPIPS(net='alex') written out with torch ops
        x = torch.from_numpy(img.transpose(2, 0, 1)[None].astype('float32')) / 127.5 - 1
        shift, scale = torch.tensor([-.030, -.088, -.188]), torch.tensor([.458, .448, .450])
        x = (x - shift.view(1, 3, 1, 1)) / scale.view(1, 3, 1, 1)
        taps = []
        for i, _, _, _, s, p in _CONVS:
            if i in (3, 6):
                x = torch.nn.functional.max_pool2d(x, 3, 2)
            x = torch.relu(torch.nn.functional.conv2d(x, torch.from_numpy(alexnet[f'features.{i}.weight']),
                                                      torch.from_numpy(alexnet[f'features.{i}.bias']), s, p))
            taps.append(x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
        return taps

    expected = sum(torch.nn.functional.conv2d((f0 - f1) ** 2, torch.from_numpy(lin[f'lin{k}.model.1.weight']))
                   .mean((2, 3)) for k, (f0, f1) in enumerate(zip(reference(a), reference(b)))).item()
    ours = METRICS['lpips'](a / 255.0, b / 255.0, weights=path)
    assert abs(ours - expected) < 1e-5 * max(1.0, abs(expected)) and expected > 0
    with pytest.raises(FileNotFoundError, match='nothing is downloaded'):
        METRICS['lpips'](a / 255.0, b / 255.0)
