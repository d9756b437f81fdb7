"""RegNetY: the convnet teacher of DeiT.

Paper: Ilija Radosavovic et al., "Designing Network Design Spaces", CVPR 2020. Reference
implementation: timm ``timm/models/regnet.py`` at the version deit pins (timm 0.3.2, which
wrote deit's teacher ``regnety_160-a5fe301d.pth``); current timm keeps the same module and
parameter names for these models, so both checkpoint generations convert with one key map.

Stage widths come from the quantized linear rule ``w_j = w0 + wa * j`` (``generate_regnet``),
each block is a ResNet bottleneck with a grouped 3x3 conv and a squeeze-excitation of width
``round(block_in * 0.25)`` after it; stem 3x3 stride 2, four stride-2 stages, avg-pool + Linear.
"""
import warnings
from typing import Dict, List, Optional, Set, Tuple

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..registry import MODELS
from .layers import DropPath

# Paddle's BatchNorm warns on every training forward that it tracks running stats (it always did);
# with ~60 BNs per step that buries the training log.
warnings.filterwarnings('ignore', message='When training, we now always track global mean and variance')

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# (w0, wa, wm, group width, depth), timm ``model_cfgs``; all RegNetY use se_ratio 0.25, stem 32.
REGNETY_CFGS = {
    'regnety_002': (24, 36.44, 2.49, 8, 13),
    'regnety_004': (48, 27.89, 2.09, 8, 16),
    'regnety_160': (200, 106.23, 2.48, 112, 18),
}


def _quantize(value: float, q: int) -> int:
    return int(round(value / q) * q)


def stage_widths(w0: int, wa: float, wm: float, group_w: int, depth: int, q: int = 8) -> List[Tuple[int, int, int]]:
    """``[(width, depth, group width), ...]`` per stage, as timm's ``generate_regnet`` +
    ``adjust_widths_groups_comp`` (bottleneck ratio 1) compute them, in float64 like timm 0.3.2."""
    widths_cont = np.arange(depth) * wa + w0
    exps = np.round(np.log(widths_cont / w0) / np.log(wm))
    widths = (np.round(w0 * np.power(wm, exps) / q) * q).astype(int)
    uniq, counts = np.unique(widths, return_counts=True)
    stages = []
    for width, count in zip(uniq.tolist(), counts.tolist()):
        group = min(group_w, width)
        stages.append((_quantize(width, group), count, group))
    return stages


def _init_linear(layer: nn.Linear) -> None:
    nn.initializer.Normal(0.0, 0.01)(layer.weight)
    nn.initializer.Constant(0.0)(layer.bias)


class ConvBnAct(nn.Layer):
    """Conv (no bias, symmetric padding) -> BatchNorm -> optional ReLU; timm's ``ConvBnAct`` names.

    Args:
        in_chs: input channels.
        out_chs: output channels.
        kernel_size: square kernel side.
        stride: conv stride.
        groups: conv groups.
        act: apply ReLU after the norm.
    """

    def __init__(self, in_chs: int = 3, out_chs: int = 32, kernel_size: int = 1, stride: int = 1,
                 groups: int = 1, act: bool = True):
        super().__init__()
        # timm get_padding: ((stride - 1) + (k - 1)) // 2
        padding = ((stride - 1) + (kernel_size - 1)) // 2
        self.conv = nn.Conv2D(in_chs, out_chs, kernel_size, stride, padding, groups=groups, bias_attr=False)
        self.bn = nn.BatchNorm2D(out_chs, momentum=0.9, epsilon=1e-5)  # = torch momentum 0.1
        self.act = act

    def forward(self, x):
        x = self.bn(self.conv(x))
        return F.relu(x) if self.act else x


class SEModule(nn.Layer):
    """Squeeze-excitation: x * sigmoid(fc2(relu(fc1(mean(x))))), with 1x1 convs with bias.

    Args:
        channels: channels of x.
        rd_channels: reduced channels.
    """

    def __init__(self, channels: int = 64, rd_channels: int = 16):
        super().__init__()
        self.fc1 = nn.Conv2D(channels, rd_channels, 1)
        self.fc2 = nn.Conv2D(rd_channels, channels, 1)

    def forward(self, x):
        gate = self.fc2(F.relu(self.fc1(x.mean(axis=[2, 3], keepdim=True))))
        return x * F.sigmoid(gate)


class Bottleneck(nn.Layer):
    """RegNetY block: 1x1 -> grouped 3x3 (stride) -> SE -> 1x1, + shortcut, ReLU.

    Args:
        in_chs: input channels.
        out_chs: output (= bottleneck) channels.
        stride: stride of the 3x3 conv and of the projection shortcut.
        group_width: channels per group of the 3x3 conv.
        se_ratio: SE width as a fraction of ``in_chs`` (timm rounds ``in_chs * se_ratio``).
        drop_path: stochastic depth rate.
    """

    def __init__(self, in_chs: int = 32, out_chs: int = 32, stride: int = 1, group_width: int = 8,
                 se_ratio: float = 0.25, drop_path: float = 0.0):
        super().__init__()
        self.conv1 = ConvBnAct(in_chs, out_chs, 1)
        self.conv2 = ConvBnAct(out_chs, out_chs, 3, stride, groups=out_chs // group_width)
        self.se = SEModule(out_chs, int(round(in_chs * se_ratio)))
        self.conv3 = ConvBnAct(out_chs, out_chs, 1, act=False)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        needs_proj = in_chs != out_chs or stride != 1
        self.downsample = ConvBnAct(in_chs, out_chs, 1, stride, act=False) if needs_proj else None

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.conv3(self.se(self.conv2(self.conv1(x))))
        return F.relu(self.drop_path(out) + shortcut)


class ClassifierHead(nn.Layer):
    """Global average pool -> dropout -> Linear (``head.fc``).

    Args:
        in_chs: feature channels.
        num_classes: classes; 0 gives pooled features.
        drop_rate: dropout before the Linear.
    """

    def __init__(self, in_chs: int = 3024, num_classes: int = 1000, drop_rate: float = 0.0):
        super().__init__()
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(in_chs, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x, pre_logits: bool = False):
        x = self.drop(x.mean(axis=[2, 3]))
        return x if pre_logits else self.fc(x)


class RegNet(nn.Layer):
    """RegNetY (timm naming: ``stem``, ``s1``..``s4`` of ``b1``..``bN``, ``head.fc``).

    Args:
        w0: initial width.
        wa: width slope.
        wm: width multiplier (quantization base).
        group_width: channels per group of the 3x3 convs.
        depth: total number of blocks.
        se_ratio: squeeze-excitation ratio.
        stem_width: stem output channels.
        in_chans: input channels.
        num_classes: classes of the head; 0 gives pooled features.
        img_size: input size recorded in ``pretrained_cfg`` (the network itself takes any size).
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic depth, linearly increasing over all blocks.
        zero_init_last: zero the last BN scale of each block (timm default), so blocks start as identity.
        pretrained_cfg: preprocessing of the official weights (mean, std, crop_pct, interpolation).
    """

    def __init__(self, w0: int = 200, wa: float = 106.23, wm: float = 2.48, group_width: int = 112,
                 depth: int = 18, se_ratio: float = 0.25, stem_width: int = 32, in_chans: int = 3,
                 num_classes: int = 1000, img_size: int = 224, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 zero_init_last: bool = True, pretrained_cfg: Optional[Dict] = None):
        super().__init__()
        self.num_classes, self.drop_rate = num_classes, drop_rate
        self.stem = ConvBnAct(in_chans, stem_width, 3, stride=2)
        stages = stage_widths(w0, wa, wm, group_width, depth)
        rates = iter(np.linspace(0, drop_path_rate, depth).tolist())
        prev = stem_width
        for index, (width, count, group) in enumerate(stages):
            blocks = [(f'b{i + 1}', Bottleneck(prev if i == 0 else width, width, 2 if i == 0 else 1, group,
                                               se_ratio, next(rates))) for i in range(count)]
            setattr(self, f's{index + 1}', nn.Sequential(*blocks))
            prev = width
        self.num_stages, self.num_features = len(stages), prev
        self.head = ClassifierHead(prev, num_classes, drop_rate)
        cfg = dict(mean=IMAGENET_MEAN, std=IMAGENET_STD, crop_pct=0.875, interpolation='bicubic')
        self.pretrained_cfg = dict(cfg, **(pretrained_cfg or {}), input_size=(in_chans, img_size, img_size),
                                   num_classes=num_classes, first_conv='stem.conv', classifier='head.fc')
        self._init_weights(zero_init_last)

    def _init_weights(self, zero_init_last: bool) -> None:
        # timm _init_weights: conv N(0, sqrt(2 / fan_out)), fan_out = k*k*out/groups; Linear N(0, .01), bias 0.
        # Initializer objects (not set_value) so the model can be built under paddle.LazyGuard.
        for layer in self.sublayers():
            if isinstance(layer, nn.Conv2D):
                out_chs, _, kh, kw = layer.weight.shape
                nn.initializer.Normal(0.0, (2.0 * layer._groups / (kh * kw * out_chs)) ** 0.5)(layer.weight)
                if layer.bias is not None:
                    nn.initializer.Constant(0.0)(layer.bias)
            elif isinstance(layer, nn.Linear):
                _init_linear(layer)
            elif isinstance(layer, Bottleneck) and zero_init_last:
                nn.initializer.Constant(0.0)(layer.conv3.bn.weight)

    def no_weight_decay(self) -> Set[str]:
        """No exemptions by name (timm/deit exclude 1-D parameters through the optimizer)."""
        return set()

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh ``head`` for ``num_classes`` (0: pooled features)."""
        self.num_classes = self.pretrained_cfg['num_classes'] = num_classes
        self.head = ClassifierHead(self.num_features, num_classes, self.drop_rate)
        if num_classes > 0:
            _init_linear(self.head.fc)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        """Last feature map ``[B, num_features, H/32, W/32]``."""
        x = self.stem(x)
        for index in range(self.num_stages):
            x = getattr(self, f's{index + 1}')(x)
        return x

    def forward_head(self, x: paddle.Tensor, pre_logits: bool = False) -> paddle.Tensor:
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


def _create(name: str, kwargs: Dict, cfg: Optional[Dict] = None) -> RegNet:
    w0, wa, wm, group_width, depth = REGNETY_CFGS[name]
    kwargs = dict(kwargs)
    kwargs['pretrained_cfg'] = dict(cfg or {}, **(kwargs.get('pretrained_cfg') or {}))
    return RegNet(w0=w0, wa=wa, wm=wm, group_width=group_width, depth=depth, **kwargs)


@MODELS.register()
def regnety_002(**kwargs) -> RegNet:
    """RegNetY-200MF (3.16M params): a fast convnet teacher for small demos."""
    return _create('regnety_002', kwargs)


@MODELS.register()
def regnety_004(**kwargs) -> RegNet:
    """RegNetY-400MF (4.34M params)."""
    return _create('regnety_004', kwargs)


@MODELS.register()
def regnety_160(**kwargs) -> RegNet:
    """RegNetY-16GF (83.6M params), DeiT's teacher (``regnety_160-a5fe301d.pth``, 82.9% top-1)."""
    # timm's cfg of the deit weights (``regnety_160.deit_in1k``): crop 0.95
    return _create('regnety_160', kwargs, dict(crop_pct=0.95))
