"""LPIPS (Zhang et al., CVPR 2018) with the AlexNet backbone and the v0.1 linear layers, in Paddle.

Same computation as ``lpips.LPIPS(net='alex')`` (https://github.com/richzhang/PerceptualSimilarity),
used by LLFormer's ``evaluation.py`` on uint8 RGB images mapped to [-1, 1] (``img / 127.5 - 1``):
scaling layer (shift [-.030, -.088, -.188], scale [.458, .448, .450]), the five ReLU outputs of
torchvision's AlexNet ``features`` (after layers 1, 4, 7, 9, 11), unit-normalised over channels
(``x / (||x|| + 1e-10)``), squared difference, 1x1 linear layer without bias, spatial mean, summed.

No weights are downloaded. Build the one ``.pdparams`` file from the two files you have locally
(torchvision ``alexnet-owt-7be5be79.pth`` and lpips ``weights/v0.1/alex.pth``):

    python -m ppuhd.metrics.lpips --alexnet alexnet-owt-7be5be79.pth --lin alex.pth --dst pretrained/lpips_alex.pdparams

and give it to the metric: ``eval.metrics.lpips: {weights: pretrained/lpips_alex.pdparams}``.
"""
import argparse
import os
from typing import Dict, Optional

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..utils.weights import load_weights
from .image import quantize_uint8

# torchvision AlexNet.features: (index, in, out, kernel, stride, padding); ReLU follows each conv.
_CONVS = ((0, 3, 64, 11, 4, 2), (3, 64, 192, 5, 1, 2), (6, 192, 384, 3, 1, 1), (8, 384, 256, 3, 1, 1),
          (10, 256, 256, 3, 1, 1))
_POOL_BEFORE = (3, 6)  # MaxPool2d(3, 2) at features.2 and features.5
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
WEIGHTS_HINT = ('LPIPS needs local weights (nothing is downloaded): build them with `python -m ppuhd.metrics.lpips '
                '--alexnet alexnet-owt-7be5be79.pth --lin alex.pth --dst lpips_alex.pdparams` and set '
                'eval.metrics.lpips.weights to that file')


class LPIPSAlex(nn.Layer):
    """LPIPS v0.1 with AlexNet; ``forward(x0, x1)`` takes NCHW in [-1, 1] and returns [N] distances."""

    def __init__(self):
        super().__init__()
        self.features = nn.LayerDict({str(i): nn.Conv2D(cin, cout, k, s, p) for i, cin, cout, k, s, p in _CONVS})
        self.lins = nn.ParameterList([self.create_parameter([1, c[2], 1, 1]) for c in _CONVS])
        # constants of the method, not weights: kept out of the state dict
        self.register_buffer('shift', paddle.to_tensor(_SHIFT, 'float32').reshape([1, 3, 1, 1]), persistable=False)
        self.register_buffer('scale', paddle.to_tensor(_SCALE, 'float32').reshape([1, 3, 1, 1]), persistable=False)

    def _taps(self, x):
        x = (x - self.shift) / self.scale
        taps = []
        for i, *_ in _CONVS:
            if i in _POOL_BEFORE:
                x = F.max_pool2d(x, 3, 2)
            x = F.relu(self.features[str(i)](x))
            taps.append(x / (paddle.sqrt((x * x).sum(axis=1, keepdim=True)) + 1e-10))
        return taps

    def forward(self, x0, x1):
        total = 0.0
        for f0, f1, lin in zip(self._taps(x0), self._taps(x1), self.lins):
            total = total + F.conv2d((f0 - f1) ** 2, lin).mean(axis=[2, 3])
        return total.reshape([-1])


def convert_lpips_weights(alexnet: Dict[str, np.ndarray], lin: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """torchvision AlexNet ``features.*`` + lpips ``lin{k}.model.1.weight`` -> ``LPIPSAlex`` state dict.

    Raises:
        ValueError: a needed key is missing (the message lists which).
    """
    out, missing = {}, []
    for k, (i, *_) in enumerate(_CONVS):
        for src, dst, state in ((f'features.{i}.weight', f'features.{i}.weight', alexnet),
                                (f'features.{i}.bias', f'features.{i}.bias', alexnet),
                                (f'lin{k}.model.1.weight', f'lins.{k}', lin)):
            if src in state:
                out[dst] = np.asarray(state[src], dtype=np.float32)
            else:
                missing.append(src)
    if missing:
        raise ValueError(f'LPIPS weights: missing {missing}; expected torchvision AlexNet and lpips v0.1 alex.pth')
    return out


_CACHE: Dict[str, LPIPSAlex] = {}


def load_lpips(weights: Optional[str]) -> LPIPSAlex:
    """The LPIPS network with ``weights`` (a .pdparams from the converter), cached per path."""
    if not weights:
        raise FileNotFoundError(WEIGHTS_HINT)
    if not os.path.isfile(weights):
        raise FileNotFoundError(f'LPIPS weights {weights} not found. ' + WEIGHTS_HINT)
    if weights not in _CACHE:
        net = LPIPSAlex()
        load_weights(net, weights, 'LPIPS weights', WEIGHTS_HINT)
        _CACHE[weights] = net.eval()
    return _CACHE[weights]


def lpips(pred: np.ndarray, target: np.ndarray, weights: Optional[str] = None, data_range: float = 1.0,
          quantize: bool = True) -> float:
    """LPIPS distance of two HWC RGB images, as evaluation.py: uint8 levels mapped to [-1, 1].

    Args:
        weights: path of the converted ``.pdparams`` (required).
        data_range: peak value of the inputs.
        quantize: round to uint8 levels first, as evaluating saved images.
    """
    net = load_lpips(weights)
    pred, target = (np.asarray(a, np.float64) / data_range for a in (pred, target))
    if quantize:
        pred, target = quantize_uint8(pred), quantize_uint8(target)
    pair = [paddle.to_tensor((a.transpose(2, 0, 1)[None] * 2.0 - 1.0).astype('float32')) for a in (pred, target)]
    with paddle.no_grad():
        return float(net(*pair)[0])


def main(argv=None) -> int:
    from ..models.convert.common import load_checkpoint
    parser = argparse.ArgumentParser(description='Convert AlexNet + lpips v0.1 weights into one .pdparams')
    parser.add_argument('--alexnet', required=True, help='torchvision alexnet .pth (or .npz)')
    parser.add_argument('--lin', required=True, help='lpips weights/v0.1/alex.pth (or .npz)')
    parser.add_argument('--dst', required=True)
    args = parser.parse_args(argv)
    state = convert_lpips_weights(load_checkpoint(args.alexnet), load_checkpoint(args.lin))
    os.makedirs(os.path.dirname(os.path.abspath(args.dst)), exist_ok=True)
    paddle.save({k: paddle.to_tensor(v) for k, v in state.items()}, args.dst)
    print(f'saved {args.dst} ({len(state)} tensors)')
    return 0


if __name__ == '__main__':
    from ..utils import cli
    cli.run(main)
