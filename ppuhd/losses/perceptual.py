"""VGG19 perceptual loss, as the official UHDFour training (``src/networks.py: VGG19``).

The official loss runs ``list(VGG.features.modules())[1:27]``: ``modules()`` yields the
Sequential itself first, so these are ``features[0:26]``, ending with conv4_4 BEFORE its
ReLU. The network sees the raw [0, 1] images (no ImageNet normalization) and the two
feature maps are compared with ``nn.MSELoss()``, weight 0.001 (``src/UHDFour_model.py``).
"""
import os
from typing import Optional

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..models.convert.vgg import VGG19_CFG
from ..registry import LOSSES
from ..utils.weights import load_weights

VGG19_NUM_LAYERS = 37  # conv + ReLU + pool entries of torchvision's vgg19().features
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_MISSING_WEIGHTS = (
    "PerceptualLoss needs ImageNet VGG19 weights, but vgg_path={path!r} {reason}. They cannot be "
    "downloaded here. Get torchvision's vgg19-dcbb9e9d.pth "
    "(https://download.pytorch.org/models/vgg19-dcbb9e9d.pth) on a machine with network access, then run\n"
    "    python tools/convert_weights.py --arch vgg19 --src vgg19-dcbb9e9d.pth --dst pretrained/vgg19.pdparams\n"
    "and set vgg_path to the result. Alternatively remove the perceptual term from the config's loss "
    "list (or give it 'enabled: false').")


def _vgg19_layers(num_layers: int):
    """The first ``num_layers`` entries of torchvision's ``vgg19().features``, in order."""
    layers, cin = [], 3
    for v in VGG19_CFG:
        if v == 'M':
            layers.append(nn.MaxPool2D(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2D(cin, v, kernel_size=3, padding=1), nn.ReLU()]
            cin = v
    return layers[:num_layers]


class VGG19Features(nn.Layer):
    """torchvision's ``vgg19().features``, truncated, with the same parameter names.

    Children of ``self.features`` are indexed like torchvision's (conv at 0, its ReLU at 1,
    ...), so a torchvision state dict's ``features.N.weight/bias`` load unchanged.

    Args:
        num_layers: keep ``features[:num_layers]`` (1..37); 26 ends at conv4_4 before its ReLU.
    """

    def __init__(self, num_layers: int = VGG19_NUM_LAYERS):
        super().__init__()
        if not 1 <= num_layers <= VGG19_NUM_LAYERS:
            raise ValueError(f'num_layers must be in [1, {VGG19_NUM_LAYERS}], got {num_layers}')
        self.features = nn.Sequential(*_vgg19_layers(num_layers))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.features(x)


def load_vgg19_features(vgg_path: Optional[str], num_layers: int) -> VGG19Features:
    """A frozen, eval-mode :class:`VGG19Features` with weights from a converted ``.pdparams``.

    The file's ``features.*`` tensors up to ``num_layers`` must all be present with the right
    shapes (deeper layers and ``classifier.*`` are ignored).
    """
    if vgg_path is None or not os.path.isfile(vgg_path):
        reason = 'is not set' if vgg_path is None else 'does not exist'
        raise FileNotFoundError(_MISSING_WEIGHTS.format(path=vgg_path, reason=reason))
    vgg = VGG19Features(num_layers)
    # the converted file holds all of VGG19: deeper layers and the classifier are not needed here
    load_weights(vgg, vgg_path, 'VGG19 weights', ignore_unexpected=lambda k: k.startswith('classifier.') or (
        k.startswith('features.') and int(k.split('.')[1]) >= num_layers))
    for param in vgg.parameters():
        param.stop_gradient = True
    vgg.eval()
    return vgg


@LOSSES.register()
class PerceptualLoss(nn.Layer):
    """Distance between frozen VGG19 features of ``pred`` and ``target``.

    The VGG is held outside the layer tree (see ``__init__``): it is not in ``parameters()``
    or ``state_dict()``, so it is never optimized, checkpointed or switched to train mode.

    Args:
        vgg_path: converted torchvision VGG19 weights (``tools/convert_weights.py --arch vgg19``).
        layer_index: run ``features[:layer_index]``; 26 (official) is conv4_4 before its ReLU.
        criterion: ``'mse'`` (official) or ``'l1'``.
        normalize: apply ImageNet mean/std to the [0, 1] inputs first (the official code does not).
    """

    def __init__(self, vgg_path: Optional[str] = None, layer_index: int = 26, criterion: str = 'mse',
                 normalize: bool = False):
        super().__init__()
        if criterion not in ('mse', 'l1'):
            raise ValueError(f"criterion must be 'mse' or 'l1', got {criterion!r}")
        self.layer_index = layer_index
        self.criterion = criterion
        self.normalize = normalize
        # object.__setattr__ bypasses nn.Layer's registration of sublayers
        object.__setattr__(self, 'vgg', load_vgg19_features(vgg_path, layer_index))
        if normalize:
            self.register_buffer('mean', paddle.to_tensor(IMAGENET_MEAN).reshape([1, 3, 1, 1]), persistable=False)
            self.register_buffer('std', paddle.to_tensor(IMAGENET_STD).reshape([1, 3, 1, 1]), persistable=False)

    def _features(self, x: paddle.Tensor) -> paddle.Tensor:
        if self.normalize:
            x = (x - self.mean) / self.std
        return self.vgg(x)

    def forward(self, pred: paddle.Tensor, target: paddle.Tensor) -> paddle.Tensor:
        with paddle.no_grad():
            target_features = self._features(target)
        pred_features = self._features(pred)
        if self.criterion == 'mse':
            return F.mse_loss(pred_features, target_features)
        return F.l1_loss(pred_features, target_features)

    def extra_repr(self) -> str:
        return f'layer_index={self.layer_index}, criterion={self.criterion}, normalize={self.normalize}'
