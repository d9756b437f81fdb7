"""Losses against PyTorch (the official training framework) and numpy references."""
import math

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest
from scipy import ndimage

from ppuhd.losses import (CharbonnierLoss, L1Loss, MSELoss, PerceptualLoss, SmoothL1Loss, SSIMLoss,
                          VGG19Features, ssim_paddle)
from ppuhd.registry import LOSSES

RNG = np.random.default_rng(0)
PRED = RNG.uniform(-0.2, 1.2, (2, 3, 20, 24)).astype(np.float32)
TARGET = RNG.uniform(0, 1, (2, 3, 20, 24)).astype(np.float32)


def rel_diff(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


def paddle_loss_and_grad(loss, pred=PRED, target=TARGET):
    x = paddle.to_tensor(pred, stop_gradient=False)
    value = loss(x, paddle.to_tensor(target))
    value.backward()
    return value.numpy(), x.grad.numpy()


def torch_loss_and_grad(torch, fn, pred=PRED, target=TARGET):
    x = torch.tensor(pred, requires_grad=True)
    value = fn(x, torch.tensor(target))
    value.backward()
    return value.detach().numpy(), x.grad.numpy()


# ---------------------------------------------------------------- pixel losses

@pytest.mark.parametrize('name,kwargs,torch_fn', [
    ('L1Loss', {}, lambda F_, x, y: F_.l1_loss(x, y)),
    ('MSELoss', {}, lambda F_, x, y: F_.mse_loss(x, y)),
    ('SmoothL1Loss', {}, lambda F_, x, y: F_.smooth_l1_loss(x, y)),
    ('SmoothL1Loss', {'beta': 0.1}, lambda F_, x, y: F_.smooth_l1_loss(x, y, beta=0.1)),
    ('SmoothL1Loss', {'beta': 2.0}, lambda F_, x, y: F_.smooth_l1_loss(x, y, beta=2.0)),
    ('SmoothL1Loss', {'beta': 0.0}, lambda F_, x, y: F_.smooth_l1_loss(x, y, beta=0.0)),
])
def test_pixel_losses_match_torch(name, kwargs, torch_fn):
    torch = pytest.importorskip('torch')
    value, grad = paddle_loss_and_grad(LOSSES.build({'type': name, **kwargs}))
    ref_value, ref_grad = torch_loss_and_grad(torch, lambda x, y: torch_fn(torch.nn.functional, x, y))
    assert rel_diff(value, ref_value) < 1e-6
    assert rel_diff(grad, ref_grad) < 1e-6


def test_paddle_smooth_l1_is_huber():
    """Why SmoothL1Loss is written out: Paddle's ``delta`` is Huber's, ``beta`` times PyTorch's loss."""
    x, y = paddle.to_tensor(PRED), paddle.to_tensor(TARGET)
    for beta in (0.1, 1.0, 2.0):
        ours = SmoothL1Loss(beta)(x, y).item()
        assert F.smooth_l1_loss(x, y, delta=beta).item() == pytest.approx(beta * ours, rel=1e-5)


def test_charbonnier_matches_numpy():
    for eps in (1e-3, 0.5):
        value, grad = paddle_loss_and_grad(CharbonnierLoss(eps))
        diff = PRED.astype(np.float64) - TARGET
        root = np.sqrt(diff ** 2 + eps ** 2)
        assert rel_diff(value, root.mean()) < 1e-6
        assert rel_diff(grad, diff / root / diff.size) < 1e-5
    with pytest.raises(ValueError, match='beta'):
        SmoothL1Loss(-1.0)


# ---------------------------------------------------------------- SSIM

def official_ssim_torch(torch, img1, img2, window_size=11, sigma=1.5):
    """The formula of the official ``src/pytorch_ssim/__init__.py`` (rewritten, same arithmetic)."""
    import torch.nn.functional as TF
    g = torch.tensor([math.exp(-(x - window_size // 2) ** 2 / float(2 * sigma ** 2)) for x in range(window_size)])
    g = (g / g.sum()).unsqueeze(1)
    channel = img1.shape[1]
    window = (g @ g.t()).float()[None, None].expand(channel, 1, window_size, window_size).contiguous()

    def conv(x):
        return TF.conv2d(x, window, padding=window_size // 2, groups=channel)

    mu1, mu2 = conv(img1), conv(img2)
    s11 = conv(img1 * img1) - mu1.pow(2)
    s22 = conv(img2 * img2) - mu2.pow(2)
    s12 = conv(img1 * img2) - mu1 * mu2
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ssim_map = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1.pow(2) + mu2.pow(2) + c1) * (s11 + s22 + c2))
    return ssim_map.mean()


def ssim_numpy(img1, img2, window_size=11, sigma=1.5):
    """Same definition by hand in float64: zero-padded Gaussian correlation per channel."""
    x = np.arange(window_size) - window_size // 2
    g = np.exp(-x ** 2 / (2 * sigma ** 2))
    kernel = np.outer(g, g) / g.sum() ** 2
    img1, img2 = img1.astype(np.float64), img2.astype(np.float64)

    def blur(a):
        return np.stack([[ndimage.correlate(ch, kernel, mode='constant', cval=0.0) for ch in im] for im in a])

    mu1, mu2 = blur(img1), blur(img2)
    s11, s22, s12 = blur(img1 ** 2) - mu1 ** 2, blur(img2 ** 2) - mu2 ** 2, blur(img1 * img2) - mu1 * mu2
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return np.mean(((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (s11 + s22 + c2)))


def close_pair():
    """A prediction near its target, the regime the loss is trained in."""
    pred = np.clip(TARGET + RNG.normal(0, 0.1, TARGET.shape), 0, 1).astype(np.float32)
    return pred, TARGET


@pytest.mark.parametrize('window_size,sigma', [(11, 1.5), (7, 1.0)])
def test_ssim_loss_matches_official_torch(window_size, sigma):
    torch = pytest.importorskip('torch')
    pred, target = close_pair()
    value, grad = paddle_loss_and_grad(SSIMLoss(window_size, sigma), pred, target)
    ref_value, ref_grad = torch_loss_and_grad(
        torch, lambda x, y: 1 - official_ssim_torch(torch, x, y, window_size, sigma), pred, target)
    # compare SSIM itself: the loss 1 - SSIM (~0.05 here) carries the float32 rounding of 1.0
    assert rel_diff(1 - value, 1 - ref_value) < 1e-5
    assert abs(value - ref_value) < 2e-6
    assert rel_diff(grad, ref_grad) < 1e-5
    assert np.abs(grad).sum() > 0


@pytest.mark.parametrize('pred,target', [close_pair(), (PRED, TARGET)], ids=['close', 'far'])
def test_ssim_matches_numpy(pred, target):
    ours = ssim_paddle(paddle.to_tensor(pred), paddle.to_tensor(target)).item()
    assert rel_diff(ours, ssim_numpy(pred, target)) < 1e-5
    assert SSIMLoss()(paddle.to_tensor(pred), paddle.to_tensor(target)).item() == pytest.approx(1 - ours, abs=1e-6)


def test_ssim_loss_properties():
    x = paddle.to_tensor(TARGET)
    assert SSIMLoss()(x, x).item() == pytest.approx(0.0, abs=1e-5)
    assert SSIMLoss().state_dict() == {}  # the window is a constant, not checkpointed
    with pytest.raises(ValueError, match='same shape'):
        SSIMLoss()(x, x[:, :, :10])
    with pytest.raises(ValueError, match='odd'):
        SSIMLoss(window_size=10)


# ---------------------------------------------------------------- perceptual

VGG_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25]  # torchvision features up to conv4_4


def random_vgg_state(seed=0, depth=26):
    """torchvision-named ``features.N`` weights (He init keeps activations O(1)), plus a classifier key."""
    rng = np.random.default_rng(seed)
    net = VGG19Features(depth)
    state = {}
    for key, param in net.state_dict().items():
        shape = param.shape
        std = math.sqrt(2.0 / (shape[1] * 9)) if key.endswith('weight') else 0.01
        state[key] = rng.normal(0, std, shape).astype(np.float32)
    state['classifier.6.bias'] = np.zeros(1000, np.float32)
    return state


@pytest.fixture(scope='module')
def vgg_file(tmp_path_factory):
    state = random_vgg_state()
    path = str(tmp_path_factory.mktemp('vgg') / 'vgg19.pdparams')
    paddle.save({k: paddle.to_tensor(v) for k, v in state.items()}, path)
    return path, state


def torch_vgg_prefix(torch, state, depth=26):
    """torchvision's vgg19().features[:depth] layout as a plain torch Sequential with ``state`` loaded."""
    nn = torch.nn
    layers, cin = [], 3
    for v in (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512):
        layers += [nn.MaxPool2d(2, 2)] if v == 'M' else [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
        cin = cin if v == 'M' else v
    net = nn.Sequential(*layers[:depth]).eval()
    net.load_state_dict({k.removeprefix('features.'): torch.tensor(v) for k, v in state.items()
                         if k.startswith('features.')})
    return net


def test_vgg_names_match_torchvision():
    names = list(VGG19Features().state_dict())
    assert names[:4] == ['features.0.weight', 'features.0.bias', 'features.2.weight', 'features.2.bias']
    assert names[-1] == 'features.34.bias' and len(names) == 32
    assert [int(k.split('.')[1]) for k in VGG19Features(26).state_dict()][::2] == VGG_CONV_INDICES


def test_perceptual_features_match_torch(vgg_file):
    torch = pytest.importorskip('torch')
    path, state = vgg_file
    loss = PerceptualLoss(vgg_path=path)
    x = RNG.uniform(0, 1, (1, 3, 32, 32)).astype(np.float32)
    ours = loss.vgg(paddle.to_tensor(x)).numpy()
    with torch.no_grad():
        ref = torch_vgg_prefix(torch, state)(torch.tensor(x)).numpy()
    assert ours.shape == (1, 512, 4, 4)
    assert (ours < 0).any()  # conv4_4 before its ReLU, as the official features[0:26]
    assert rel_diff(ours, ref) < 1e-5
    y = RNG.uniform(0, 1, (1, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        ref_loss = torch.nn.functional.mse_loss(torch_vgg_prefix(torch, state)(torch.tensor(x)),
                                                torch_vgg_prefix(torch, state)(torch.tensor(y))).item()
    assert loss(paddle.to_tensor(x), paddle.to_tensor(y)).item() == pytest.approx(ref_loss, rel=1e-5)


def test_perceptual_is_frozen_and_differentiable(vgg_file):
    path, _ = vgg_file
    loss = LOSSES.build({'type': 'PerceptualLoss', 'vgg_path': path, 'normalize': True, 'criterion': 'l1'})
    assert loss.parameters() == [] and loss.state_dict() == {}
    assert all(p.stop_gradient for p in loss.vgg.parameters()) and not loss.vgg.training
    loss.train()
    assert not loss.vgg.training
    x = paddle.to_tensor(RNG.uniform(0, 1, (1, 3, 32, 32)).astype(np.float32), stop_gradient=False)
    loss(x, paddle.to_tensor(TARGET[:1, :, :16, :16].repeat(2, 2).repeat(2, 3))).backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert all(p.grad is None for p in loss.vgg.parameters())


def test_perceptual_missing_weights(tmp_path):
    for path in (None, str(tmp_path / 'nope.pdparams')):
        with pytest.raises(FileNotFoundError) as err:
            PerceptualLoss(vgg_path=path)
        msg = str(err.value)
        assert 'vgg19-dcbb9e9d.pth' in msg and 'loss list' in msg
        assert 'python tools/convert_weights.py --arch vgg19 --src vgg19-dcbb9e9d.pth' in msg


def test_perceptual_strict_loading(tmp_path, vgg_file):
    _, state = vgg_file
    partial = {k: v for k, v in state.items() if k != 'features.25.weight'}
    paddle.save({k: paddle.to_tensor(v) for k, v in partial.items()}, str(tmp_path / 'a.pdparams'))
    with pytest.raises(ValueError, match='missing: features.25.weight'):
        PerceptualLoss(vgg_path=str(tmp_path / 'a.pdparams'))
    PerceptualLoss(vgg_path=str(tmp_path / 'a.pdparams'), layer_index=25)  # conv4_4 unused: fine
    bad = dict(state, **{'features.2.bias': np.zeros(3, np.float32)})
    paddle.save({k: paddle.to_tensor(v) for k, v in bad.items()}, str(tmp_path / 'b.pdparams'))
    with pytest.raises(ValueError, match='features.2.bias'):
        PerceptualLoss(vgg_path=str(tmp_path / 'b.pdparams'))
