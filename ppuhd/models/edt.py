"""EDT: encoder-decoder transformer for super-resolution, denoising and deraining, and its multi-task pre-training.

Li et al., "On Efficient Transformer-Based Image Pre-training for Low-Level Vision", arXiv:2112.10175.
Official code: https://github.com/fenglinglwb/EDT @f4b3b77
(``utils/modules/edt.py``, ``configs/*.py``, ``test_sample.py``; no training code is released).

One body (CSwin-style window transformer: half the channels attend in 6x24 windows, half in
24x6, shifted in every second block with a -100 mask; LePE instead of a position bias) between
a convolutional head and tail per task. A task is ``'sr_x{s}'`` (super-resolution), ``'dn'`` /
``'dn_g{sigma}'`` (Gaussian denoising) or ``'dr'`` / ``'dr_{L,H}'`` (deraining); modules are
called ``head_<task>`` / ``tail_<task>`` as the official ones. A single-task model takes and
returns one tensor; a multi-task (pre-training) model takes one input per task, in the order of
``tasks``, and returns a list. The released single-task denoising / deraining models differ only
in the data they were trained on (``head_dn_g15`` / ``_g25`` / ``_g50``, ``head_dr_L`` / ``_H``
officially): here they are one architecture, ``head_dn`` / ``head_dr``, and the converter says
which level a file holds.

In eval mode ``forward`` reproduces ``test_sample.py`` on any H x W: pad bottom and right by
flip-concatenation (symmetric, the edge repeated) to ``(h // m + 1) * m`` (a whole extra window
even when ``h`` is a multiple), ``m`` = lcm(6, 24) = 24 for SR and 24 * 2 ** 2 = 96 for denoising
and deraining (whose head downsamples twice), run with the attention masks of that size, crop
to ``scale`` x (H, W). The official code fails where the pad exceeds the side (e.g. H < 12 for
SR); the periodic flip used here continues the same rule. The model subtracts the RGB mean
itself and adds it back. In training mode inputs are used as given (sides multiples of
``m``, e.g. the official 48 x 48 LR crops), as the official training forward.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import paddle
import paddle.nn as nn

from ..inference import ImageIO, crop_to, pad_bottom_right
from ..registry import MODELS
from ..utils.logger import get_logger
from .layers import (ConvLeakyReLU, DropPath, PixelShuffle, spatial_size, torch_default_init_, trunc_normal_,
                     upsample_bilinear, upsample_bilinear_inference)

RGB_MEAN = (0.4488, 0.4371, 0.4040)  # edt.py Network: the DIV2K mean, a plain tensor (not in the state dict)
WINDOW = (6, 24)  # every released config: MODEL.WINDOW_SIZE = (6, 24)
KINDS = ('sr', 'dn', 'dr')


def parse_task(task: str) -> Tuple[str, int]:
    """(kind, scale) of a task name: ``'sr_x2'`` -> ('sr', 2); ``'dn'``, ``'dn_g25'``, ``'dr'``, ``'dr_L'``: scale 1."""
    kind, _, level = task.partition('_')
    if kind == 'sr' and level[:1] == 'x' and level[1:].isdigit() and int(level[1:]) > 1:
        return kind, int(level[1:])
    if (kind == 'dn' and (not level or (level[:1] == 'g' and level[1:].isdigit()))) or \
            (kind == 'dr' and (not level or level.isidentifier())):
        return kind, 1
    raise ValueError(f"EDT task {task!r}: use 'sr_x<scale>', 'dn' / 'dn_g<sigma>' or 'dr' / 'dr_<level>' "
                     "(e.g. 'sr_x2', 'dn_g25', 'dr_L')")


def shift_window_mask(h, w, window: Tuple[int, int]) -> paddle.Tensor:
    """Attention mask [nW, N, N] (0 or -100) of windows ``window`` shifted by half a window on an h x w map.

    Official ``CSwinTransformerBlock.calculate_mask``: the map is cut into 3 x 3 regions by the
    slices (0, -window), (-window, -shift), (-shift, None) of each axis; tokens of one window
    attend to each other only within a region. ``h`` and ``w`` may be tensors (exported graphs).
    """
    wh, ww = window

    def regions(size, win):
        idx = paddle.arange(size)
        return (idx >= size - win).astype('int32') + (idx >= size - win // 2).astype('int32')
    labels = regions(h, wh).unsqueeze(1) * 3 + regions(w, ww).unsqueeze(0)  # [h, w]
    labels = labels.reshape([h // wh, wh, w // ww, ww]).transpose([0, 2, 1, 3]).reshape([-1, wh * ww])
    differs = labels.unsqueeze(1) != labels.unsqueeze(2)
    return paddle.where(differs, paddle.full([1], -100.0), paddle.zeros([1]))


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1, padding: Optional[int] = None, bias: bool = True,
          groups: int = 1) -> nn.Conv2D:
    return nn.Conv2D(cin, cout, k, stride, k // 2 if padding is None else padding, groups=groups,
                     bias_attr=None if bias else False)


class ResBlockDown(nn.Layer):
    """conv3x3, LReLU .2, conv3x3, LReLU .2, + 1x1 shortcut; ``down`` adds a 4x4 stride-2 conv (no bias).

    Args:
        in_chl: input channels.
        out_chl: output channels.
        down: also return the 2x downsampled output (denoise / derain heads): (down, full).
    """

    def __init__(self, in_chl: int = 32, out_chl: int = 64, down: bool = False):
        super().__init__()
        self.conv_1 = _conv(in_chl, in_chl)
        self.conv_2 = _conv(in_chl, out_chl)
        self.shortcut = _conv(in_chl, out_chl, 1)
        self.act = ConvLeakyReLU(0.2)  # a default Paddle Inference client crashes on conv + LeakyReLU
        self.down = down
        if down:
            self.conv_down = _conv(out_chl, out_chl, 4, 2, padding=1, bias=False)

    def forward(self, x):
        x = self.act(self.conv_2(self.act(self.conv_1(x)))) + self.shortcut(x)
        return (self.conv_down(x), x) if self.down else x


class ResBlockUp(nn.Layer):
    """conv3x3 in->out, LReLU .2, conv3x3 out->out, LReLU .2, + 1x1 shortcut.

    Args:
        in_chl: input channels.
        out_chl: output channels.
    """

    def __init__(self, in_chl: int = 64, out_chl: int = 32):
        super().__init__()
        self.conv_1 = _conv(in_chl, out_chl)
        self.conv_2 = _conv(out_chl, out_chl)
        self.shortcut = _conv(in_chl, out_chl, 1)
        self.act = ConvLeakyReLU(0.2)  # a default Paddle Inference client crashes on conv + LeakyReLU

    def forward(self, x):
        return self.act(self.conv_2(self.act(self.conv_1(x)))) + self.shortcut(x)


class ResBlockSkip(nn.Layer):
    """SR tail step: conv3x3 in->out, concat the head's skip, ResBlockUp(2 out -> out).

    Args:
        in_chl: input channels.
        out_chl: output channels (and the skip's).
    """

    def __init__(self, in_chl: int = 180, out_chl: int = 64):
        super().__init__()
        self.conv = _conv(in_chl, out_chl)
        self.block = ResBlockUp(out_chl * 2, out_chl)

    def forward(self, x, skip):
        return self.block(paddle.concat([self.conv(x), skip], axis=1))


class UpResBlock(nn.Layer):
    """Denoise / derain tail step: ConvTranspose 2x2 stride 2, concat the head's skip, ResBlockUp.

    Args:
        in_chl: input channels.
        out_chl: output channels (and the skip's).
    """

    def __init__(self, in_chl: int = 180, out_chl: int = 64):
        super().__init__()
        self.up = nn.Conv2DTranspose(in_chl, out_chl, 2, 2)
        self.block = ResBlockUp(out_chl * 2, out_chl)

    def forward(self, x, skip):
        return self.block(paddle.concat([self.up(x), skip], axis=1))


def _upsample(scale: int, num_feat: int) -> nn.Sequential:
    """Official ``Upsample``: (conv nf -> 4 nf, PixelShuffle 2) per factor 2, or conv nf -> 9 nf, PixelShuffle 3."""
    if scale & (scale - 1) == 0:
        layers = []
        for _ in range(int(math.log2(scale))):
            layers += [_conv(num_feat, 4 * num_feat), PixelShuffle(2)]
        return nn.Sequential(*layers)
    if scale == 3:
        return nn.Sequential(_conv(num_feat, 9 * num_feat), PixelShuffle(3))
    raise ValueError(f'EDT pixelshuffle upsampler supports scales 2^n and 3, got {scale}')


class Mlp(nn.Layer):
    """fc1, GELU, depthwise conv5x5, GELU, fc2 on [B, H, W, C] (official ``Mlp``).

    Args:
        dim: channels in and out.
        hidden: hidden channels.
    """

    def __init__(self, dim: int = 180, hidden: int = 360):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.dwconv = _conv(hidden, hidden, 5, groups=hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        x = self.act(self.fc1(x)).transpose([0, 3, 1, 2])
        return self.fc2(self.act(self.dwconv(x)).transpose([0, 2, 3, 1]))


class WindowAttention(nn.Layer):
    """Multi-head self-attention within ``window`` (h, w) windows plus LePE (official ``WindowAttention``).

    LePE: a depthwise 3x3 conv on V of each window (zero padded at the window's edge), added to
    the attention output. No relative position bias.

    Args:
        dim: channels of this branch (half the block's).
        num_heads: heads (``dim`` must divide).
        window: window (height, width).
    """

    def __init__(self, dim: int = 90, num_heads: int = 6, window: Tuple[int, int] = WINDOW):
        super().__init__()
        self.dim, self.num_heads, self.window = dim, num_heads, tuple(window)
        self.scale = (dim // num_heads) ** -0.5
        self.lepe = _conv(dim, dim, 3, groups=dim)

    def forward(self, qkv, mask, size):
        """``qkv`` [B, H, W, 3, dim] -> [B, H, W, dim]; ``mask`` [nW, N, N] or None; ``size`` = (H, W)."""
        (h, w), (wh, ww) = size, self.window
        nh, nw, heads, d, n = h // wh, w // ww, self.num_heads, self.dim // self.num_heads, wh * ww
        # [3, B, heads, nW, N, d], windows in row-major order. Heads before windows: the mask then
        # broadcasts over the leading dims only, which Paddle's CPU add does ~4x faster than over heads.
        t = qkv.reshape([-1, nh, wh, nw, ww, 3, heads, d]).transpose([5, 0, 6, 1, 3, 2, 4, 7])
        t = t.reshape([3, -1, heads, nh * nw, n, d])
        q, k, v = paddle.unbind(t, axis=0)  # one gradient for the three, not three zero-filled ones
        q = q * self.scale
        # LePE on the V of each window as an image [B * nW, dim, wh, ww] (channel = head * d + j)
        lepe = self.lepe(v.transpose([0, 2, 1, 4, 3]).reshape([-1, self.dim, wh, ww]))
        lepe = lepe.reshape([-1, nh * nw, heads, d, n]).transpose([0, 2, 1, 4, 3])
        attn = paddle.matmul(q, k, transpose_y=True)  # [B, heads, nW, N, N]
        if mask is not None:
            attn = attn + mask
        out = paddle.matmul(nn.functional.softmax(attn, axis=-1), v) + lepe
        out = out.reshape([-1, heads, nh, nw, wh, ww, d]).transpose([0, 2, 4, 3, 5, 1, 6])
        return out.reshape([-1, h, w, self.dim])


class CSwinBlock(nn.Layer):
    """Pre-norm block: half the channels in ``window`` windows, half in the transposed windows (official
    ``CSwinTransformerBlock``); ``shift`` rolls q, k, v by half a window (-3, -12) / (-12, -3) first.

    Args:
        dim: channels.
        num_heads: heads of each half.
        window: window (height, width) of the first half; the second half uses (width, height).
        shift: shifted windows (the official odd blocks).
        mlp_ratio: FFN hidden / dim.
        drop_path: stochastic depth rate of both residual branches.
    """

    def __init__(self, dim: int = 180, num_heads: int = 6, window: Tuple[int, int] = WINDOW, shift: bool = False,
                 mlp_ratio: float = 2.0, drop_path: float = 0.0):
        super().__init__()
        self.dim, self.shift = dim, shift
        self.norm1 = nn.LayerNorm(dim, epsilon=1e-5)
        self.attns = nn.LayerList([WindowAttention(dim // 2, num_heads, win)
                                   for win in (tuple(window), tuple(window)[::-1])])
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, epsilon=1e-5)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, masks, size):
        """``x`` [B, H, W, C]; ``masks`` (horizontal, vertical) masks of shifted windows; ``size`` = (H, W)."""
        h, w = size
        qkv = self.qkv(self.norm1(x)).reshape([-1, h, w, 3, 2, self.dim // 2])  # q, k, v each split in halves
        outs = []
        # unbind, not qkv[..., half]: each indexing's gradient is a zero-filled tensor of qkv's full size
        for half, (attn, t) in enumerate(zip(self.attns, paddle.unbind(qkv, axis=4))):
            shift = [s // 2 for s in attn.window]
            if self.shift:
                t = paddle.roll(t, shifts=[-shift[0], -shift[1]], axis=[1, 2])
            t = attn(t, masks[half] if self.shift else None, size)
            outs.append(paddle.roll(t, shifts=shift, axis=[1, 2]) if self.shift else t)
        x = x + self.drop_path(self.proj(paddle.concat(outs, axis=-1)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class ResidualGroup(nn.Layer):
    """A stage of blocks, even ones plain, odd ones shifted (official ``BasicLayer``).

    Args:
        dim: channels.
        depth: blocks.
        num_heads: heads of each half of a block.
        window: window (height, width).
        mlp_ratio: FFN hidden / dim.
        drop_path: per-block stochastic depth rates.
    """

    def __init__(self, dim: int = 180, depth: int = 6, num_heads: int = 6, window: Tuple[int, int] = WINDOW,
                 mlp_ratio: float = 2.0, drop_path: Sequence[float] = ()):
        super().__init__()
        rates = list(drop_path) or [0.0] * depth
        self.blocks = nn.LayerList([CSwinBlock(dim, num_heads, window, i % 2 == 1, mlp_ratio, rates[i])
                                    for i in range(depth)])

    def forward(self, x, masks, size):
        for block in self.blocks:
            x = block(x, masks, size)
        return x


class RSTB(nn.Layer):
    """Residual stage: ``residual_group(x) + x`` (official ``RSTB``; no conv inside).

    Args:
        dim: channels.
        depth: blocks.
        num_heads: heads of each half of a block.
        window: window (height, width).
        mlp_ratio: FFN hidden / dim.
        drop_path: per-block stochastic depth rates.
    """

    def __init__(self, dim: int = 180, depth: int = 6, num_heads: int = 6, window: Tuple[int, int] = WINDOW,
                 mlp_ratio: float = 2.0, drop_path: Sequence[float] = ()):
        super().__init__()
        self.residual_group = ResidualGroup(dim, depth, num_heads, window, mlp_ratio, drop_path)

    def forward(self, x, masks, size):
        return self.residual_group(x, masks, size) + x


class EDTBody(nn.Layer):
    """Patch embed (LayerNorm of each pixel), stages, LayerNorm, conv3x3, + input (official ``SwinBody``).

    Args:
        embed_dim: channels.
        depths: blocks per stage.
        num_heads: heads per stage.
        window: window (height, width).
        mlp_ratio: FFN hidden / dim.
        drop_path_rate: stochastic depth, linearly from 0 to this over all blocks (official default 0.1,
            which ``Network`` never overrides).
    """

    def __init__(self, embed_dim: int = 180, depths: Sequence[int] = (6,) * 6, num_heads: Sequence[int] = (6,) * 6,
                 window: Tuple[int, int] = WINDOW, mlp_ratio: float = 2.0, drop_path_rate: float = 0.1):
        super().__init__()
        self.window = tuple(window)
        self.patch_embed = nn.Layer()
        self.patch_embed.norm = nn.LayerNorm(embed_dim, epsilon=1e-5)
        total = sum(depths)
        rates = [drop_path_rate * i / (total - 1) if total > 1 else 0.0 for i in range(total)]  # torch.linspace
        self.layers = nn.LayerList([
            RSTB(embed_dim, d, nh, window, mlp_ratio, rates[sum(depths[:i]):sum(depths[:i + 1])])
            for i, (d, nh) in enumerate(zip(depths, num_heads))])
        self.norm = nn.LayerNorm(embed_dim, epsilon=1e-5)
        self.conv_after_body = _conv(embed_dim, embed_dim)

    def forward(self, x):
        size = spatial_size(x)
        # the official blocks recompute the masks for any size other than the 48x48 they were built for;
        # equal for every shifted block, so computed once here
        masks = [shift_window_mask(size[0], size[1], win) for win in (self.window, self.window[::-1])]
        t = self.patch_embed.norm(x.transpose([0, 2, 3, 1]))
        for layer in self.layers:
            t = layer(t, masks, size)
        return self.conv_after_body(self.norm(t).transpose([0, 3, 1, 2])) + x


class EDT(nn.Layer):
    """EDT with one head and tail per task on a shared body (official ``Network``).

    Args:
        tasks: task names, e.g. ``('sr_x2',)``, ``('dn',)``, ``('sr_x2', 'sr_x3', 'sr_x4')``; see the module doc.
        in_channels: image channels (3: RGB minus the mean; 1: no mean).
        num_feat: head / tail width at full resolution (official ``NUM_FEAT``).
        embed_dim: body channels.
        depths: blocks per body stage.
        num_heads: heads per stage (each half of a block).
        window: window (height, width).
        mlp_ratio: FFN hidden / dim.
        depth: head blocks (``DEPTH``, the denoise / derain downsamplings); the size multiple of those is
            lcm(window) * 2 ** depth.
        upsampler: SR tail, ``'pixelshuffle'`` (conv + PixelShuffle per factor, conv -> 3) or
            ``'pixelshuffledirect'`` (one conv -> 3 s^2 + PixelShuffle(s): EDT-T).
        img_range: input scale after the mean subtraction.
        drop_path_rate: stochastic depth of the body (official 0.1).
        init_branch: the task branch of a multi-task weight file that ``model_weights`` fills this
            single-task model from (fine-tuning after pre-training, the official ``FILTER_LIST``), e.g.
            ``'sr_x2'`` or ``'dn_g25'``; the file's other heads and tails are left out. None: the file
            must match this model exactly.
    """

    def __init__(self, tasks: Sequence[str] = ('sr_x2',), in_channels: int = 3, num_feat: int = 32,
                 embed_dim: int = 180, depths: Sequence[int] = (6,) * 6, num_heads: Sequence[int] = (6,) * 6,
                 window: Tuple[int, int] = WINDOW, mlp_ratio: float = 2.0, depth: int = 2,
                 upsampler: str = 'pixelshuffle', img_range: float = 1.0, drop_path_rate: float = 0.1,
                 init_branch: Optional[str] = None):
        super().__init__()
        if not tasks:
            raise ValueError('EDT needs at least one task')
        if len(set(tasks)) != len(tasks):
            raise ValueError(f'EDT tasks must be distinct, got {list(tasks)}')
        if upsampler not in ('pixelshuffle', 'pixelshuffledirect'):
            raise ValueError(f"EDT upsampler must be 'pixelshuffle' or 'pixelshuffledirect', got {upsampler!r}")
        if init_branch is not None and len(tasks) != 1:
            raise ValueError('EDT init_branch is for single-task models (fine-tuning from a multi-task file)')
        self.tasks = list(tasks)
        self.kinds = {t: parse_task(t) for t in self.tasks}
        if init_branch is not None:
            parse_task(init_branch)
        self.init_branch = init_branch
        self.img_range = img_range
        self.mean = RGB_MEAN if in_channels == 3 else (0.0,) * in_channels
        window_lcm = math.lcm(*window)
        self.task_image_io = {
            t: ImageIO(scale=s, size_multiple=window_lcm * (2 ** depth if kind != 'sr' else 1), min_size=1,
                       pads_itself=True, pad_mode='symmetric', channels='rgb' if in_channels == 3 else 'y')
            for t, (kind, s) in self.kinds.items()}
        if len(self.tasks) == 1:
            self.image_io = self.task_image_io[self.tasks[0]]
        widths = [num_feat * 2 ** i for i in range(depth + 1)]
        for task, (kind, scale) in self.kinds.items():
            head = [_conv(in_channels, num_feat)]
            head += [ResBlockDown(widths[i], widths[i + 1], down=kind != 'sr') for i in range(depth)]
            setattr(self, f'head_{task}', nn.LayerList(head + [_conv(widths[-1], embed_dim)]))
        self.body = EDTBody(embed_dim, depths, num_heads, window, mlp_ratio, drop_path_rate)
        for task, (kind, scale) in self.kinds.items():
            step = ResBlockSkip if kind == 'sr' else UpResBlock
            tail = [step(embed_dim if i == depth - 1 else widths[i + 2], widths[i + 1]) for i in reversed(range(depth))]
            out_chl = widths[1]
            if kind != 'sr':
                tail.append(_conv(out_chl, in_channels))
            elif upsampler == 'pixelshuffle':
                tail += [_upsample(scale, out_chl), _conv(out_chl, in_channels)]
            else:
                tail += [nn.Sequential(_conv(out_chl, in_channels * scale ** 2), PixelShuffle(scale)), nn.Identity()]
            setattr(self, f'tail_{task}', nn.LayerList(tail))
        self._init_weights()

    def _init_weights(self):
        # heads and tails keep PyTorch's default init; SwinBody.apply(_init_weights) sets its Linear
        # layers to trunc_normal(.02) with zero bias and its LayerNorms to (1, 0)
        torch_default_init_(self)
        for layer in self.body.sublayers():
            if isinstance(layer, nn.Linear):
                trunc_normal_(layer.weight, std=0.02)
                nn.initializer.Constant(0.0)(layer.bias)

    def _head(self, task: str, lq):
        kind, _ = self.kinds[task]
        skips = []
        head = getattr(self, f'head_{task}')
        x = lq
        for j, block in enumerate(head):
            if kind != 'sr' and 0 < j < len(head) - 1:
                x, full = block(x)
                skips.append(full)
            else:
                x = block(x)
                if 0 < j < len(head) - 1:
                    skips.append(x)
        return x, skips

    def _tail(self, task: str, x, skips, lq, upsample):
        kind, scale = self.kinds[task]
        tail = getattr(self, f'tail_{task}')
        for j, block in enumerate(tail):
            if j == len(tail) - 1:
                # SR: the official F.interpolate(lq, scale_factor=s, mode='bilinear', align_corners=False)
                x = (upsample(lq, scale) if kind == 'sr' else lq) + block(x)
            elif kind == 'sr' and j == len(tail) - 2:
                x = block(x)
            else:
                x = block(x, skips[-j - 1])
        return x

    def _mean(self):
        return paddle.to_tensor(self.mean, dtype='float32').reshape([1, -1, 1, 1])

    def _network(self, task: str, x, upsample):
        """The official network on an input whose sides are multiples of the task's size multiple."""
        mean = self._mean()
        lq = (x - mean) * self.img_range
        feat, skips = self._head(task, lq)
        out = self._tail(task, self.body(feat), skips, lq, upsample)
        return out / self.img_range + mean

    def _check_training_size(self, task: str, x):
        multiple, (h, w) = self.task_image_io[task].size_multiple, x.shape[-2:]
        if h % multiple or w % multiple:
            raise ValueError(f'EDT ({task}) in training mode takes crops whose sides are multiples of {multiple} '
                             f'(as the official 48x48 LR / 192x192 crops), got {h}x{w}: set data.train.crop_size')

    def _predict(self, task: str, x, upsample):
        """``test_sample.py``: pad by flip-concatenation to (h // m + 1) * m, run, crop to scale x (h, w)."""
        io = self.task_image_io[task]
        h, w = spatial_size(x)
        m = io.size_multiple
        padded = pad_bottom_right(x, (h // m + 1) * m - h, (w // m + 1) * m - w, io.pad_mode)
        return crop_to(self._network(task, padded, upsample), (h * io.scale, w * io.scale))

    def forward_tasks(self, xs: Sequence[paddle.Tensor]) -> List[paddle.Tensor]:
        """One input per task (in the order of ``tasks``) -> one output per task.

        Eval: each input through its own test pipeline. Training: every head, then the body once on
        the batch of all head outputs (official ``Network.forward`` with ``gt``), then every tail.
        """
        if len(xs) != len(self.tasks):
            raise ValueError(f'EDT with tasks {self.tasks} takes {len(self.tasks)} inputs, got {len(xs)}')
        if not self.training:
            return [self._predict(t, x, upsample_bilinear) for t, x in zip(self.tasks, xs)]
        for t, x in zip(self.tasks, xs):
            self._check_training_size(t, x)
        mean = self._mean()
        lqs = [(x - mean) * self.img_range for x in xs]
        heads = [self._head(t, lq) for t, lq in zip(self.tasks, lqs)]
        feats = [f for f, _ in heads]
        if all(f.shape == feats[0].shape for f in feats):
            bodies = paddle.split(self.body(paddle.concat(feats, axis=0)), len(feats), axis=0)
        else:
            bodies = [self.body(f) for f in feats]
        outs = [self._tail(t, b, skips, lq, upsample_bilinear)
                for t, b, (_, skips), lq in zip(self.tasks, bodies, heads, lqs)]
        return [o / self.img_range + mean for o in outs]

    def forward(self, x: Union[paddle.Tensor, Sequence[paddle.Tensor]]):
        if isinstance(x, (list, tuple)):
            return self.forward_tasks(x)
        if len(self.tasks) != 1:
            raise ValueError(f'EDT with tasks {self.tasks} takes a list of {len(self.tasks)} inputs (one per task)')
        task = self.tasks[0]
        if self.training:
            self._check_training_size(task, x)
            return self._network(task, x, upsample_bilinear)
        return self._predict(task, x, upsample_bilinear)

    def deploy_layer(self) -> nn.Layer:
        """The export variant (``EnhancementTask.export_layer`` picks it): the eval forward on the same
        parameters, the bilinear input path as fixed two-tap blends (``upsample_bilinear_inference``, equal to
        float round-off): Paddle Inference 3.3.1's default oneDNN placement cannot run ``bilinear_interp``
        ("ConvertPirAttribute2RuntimeAttribute not support ArrayAttribute<DoubleAttribute>")."""
        if len(self.tasks) != 1:
            raise ValueError(f'EDT with tasks {self.tasks} is a pre-training model; export a single-task model')
        return _EDTDeploy(self)

    def adapt_state_dict(self, state: Dict[str, paddle.Tensor]) -> Dict[str, paddle.Tensor]:
        """With ``init_branch``: the body and that branch's head and tail of a (multi-task) weight file,
        renamed to this model's task; the file's other heads and tails are left out (and logged)."""
        if self.init_branch is None:
            return state
        own, src = self.tasks[0], self.init_branch
        out, left_out = {}, set()
        for key, value in state.items():
            module, _, rest = key.partition('.')
            if module in (f'head_{src}', f'tail_{src}'):
                out[f"{module.split('_', 1)[0]}_{own}.{rest}"] = value
            elif module.startswith(('head_', 'tail_')):
                left_out.add(module)
            else:
                out[key] = value
        if left_out:
            get_logger().info('EDT init_branch %s -> %s: left out %s', src, own, ', '.join(sorted(left_out)))
        return out


class _EDTDeploy(nn.Layer):
    """The exported graph of a single-task EDT (see :meth:`EDT.deploy_layer`)."""

    def __init__(self, model: EDT):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model._predict(self.model.tasks[0], x, upsample_bilinear_inference)


_T = dict(num_feat=8, embed_dim=60, depths=(6,) * 4, num_heads=(6,) * 4)
_S = dict(num_feat=16, embed_dim=120, depths=(6,) * 5, num_heads=(6,) * 5)
_B = dict(num_feat=32, embed_dim=180, depths=(6,) * 6, num_heads=(6,) * 6)
_L = dict(num_feat=64, embed_dim=240, depths=(6,) * 12, num_heads=(8,) * 12)


def _edt(tasks, size: dict, **kwargs) -> EDT:
    return EDT(**{'tasks': tasks, **size, **kwargs})


@MODELS.register()
def edt_t_sr_x2(**kwargs) -> EDT:
    """EDT-T x2 (configs/SRx2_EDTT_Div2kFlickr2K.py: pixelshuffledirect), 916,924 parameters."""
    return _edt(('sr_x2',), _T, **{'upsampler': 'pixelshuffledirect', **kwargs})


@MODELS.register()
def edt_t_sr_x3(**kwargs) -> EDT:
    """EDT-T x3 (pixelshuffledirect), 919,099 parameters."""
    return _edt(('sr_x3',), _T, **{'upsampler': 'pixelshuffledirect', **kwargs})


@MODELS.register()
def edt_t_sr_x4(**kwargs) -> EDT:
    """EDT-T x4 (pixelshuffledirect), 922,144 parameters."""
    return _edt(('sr_x4',), _T, **{'upsampler': 'pixelshuffledirect', **kwargs})


@MODELS.register()
def edt_s_sr_x2(**kwargs) -> EDT:
    """EDT-S x2 (configs/SRx2_EDTS_Div2kFlickr2K.py), 4,230,323 parameters."""
    return _edt(('sr_x2',), _S, **kwargs)


@MODELS.register()
def edt_b_sr_x2(**kwargs) -> EDT:
    """EDT-B x2 (configs/SRx2_EDTB_Div2kFlickr2K.py), 11,479,355 parameters."""
    return _edt(('sr_x2',), _B, **kwargs)


@MODELS.register()
def edt_b_sr_x3(**kwargs) -> EDT:
    """EDT-B x3, 11,663,995 parameters."""
    return _edt(('sr_x3',), _B, **kwargs)


@MODELS.register()
def edt_b_sr_x4(**kwargs) -> EDT:
    """EDT-B x4, 11,627,067 parameters."""
    return _edt(('sr_x4',), _B, **kwargs)


@MODELS.register()
def edt_l_sr_x2(**kwargs) -> EDT:
    """EDT-L x2 (configs/SRx2_EDTL_Div2kFlickr2K.py: 12 stages, 8 heads), 39,927,395 parameters."""
    return _edt(('sr_x2',), _L, **kwargs)


@MODELS.register()
def edt_b_dn(**kwargs) -> EDT:
    """EDT-B Gaussian denoising (configs/DNg{15,25,50}_EDTB_D4.py, one architecture), 11,503,163 parameters."""
    return _edt(('dn',), _B, **kwargs)


@MODELS.register()
def edt_b_dr(**kwargs) -> EDT:
    """EDT-B deraining (configs/DR{ls,hs}_EDTB_*.py, one architecture), 11,503,163 parameters."""
    return _edt(('dr',), _B, **kwargs)


@MODELS.register()
def edt_t_sr_x2x3x4(**kwargs) -> EDT:
    """EDT-T multi-task pre-training x2 + x3 + x4 (configs/SRx2x3x4_EDTT_ImageNet200K.py, whose tails are
    ``pixelshuffle``, unlike the single-task EDT-T), 1,137,537 parameters."""
    return _edt(('sr_x2', 'sr_x3', 'sr_x4'), _T, **kwargs)


@MODELS.register()
def edt_b_sr_x2x3x4(**kwargs) -> EDT:
    """EDT-B multi-task pre-training x2 + x3 + x4 (configs/SRx2x3x4_EDTB_ImageNet200K.py), 14,576,937 parameters."""
    return _edt(('sr_x2', 'sr_x3', 'sr_x4'), _B, **kwargs)


@MODELS.register()
def edt_b_sr_x2x3_dn_g15(**kwargs) -> EDT:
    """EDT-B multi-task pre-training x2 + x3 + denoise sigma 15 (configs/SRx2x3DNg15_EDTB_ImageNet200K.py),
    14,453,033 parameters."""
    return _edt(('sr_x2', 'sr_x3', 'dn_g15'), _B, **kwargs)


@MODELS.register()
def edt_b_dn_g15g25g50(**kwargs) -> EDT:
    """EDT-B multi-task pre-training, denoise sigma 15 + 25 + 50 (configs/DNg15g25g50_EDTB_ImageNet200K.py),
    14,316,009 parameters."""
    return _edt(('dn_g15', 'dn_g25', 'dn_g50'), _B, **kwargs)


@MODELS.register()
def edt_b_dr_lshs(**kwargs) -> EDT:
    """EDT-B multi-task pre-training, light + heavy rain streaks (configs/DRlshs_EDTB_ImageNet200K.py),
    12,909,586 parameters."""
    return _edt(('dr_L', 'dr_H'), _B, **kwargs)
