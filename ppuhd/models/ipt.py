"""IPT: the pre-trained Image Processing Transformer, its six tasks and its test-time chop.

Chen et al., "Pre-Trained Image Processing Transformer", CVPR 2021 (arXiv:2012.00364). Official
code: https://github.com/huawei-noah/Pretrained-IPT @675540e (``model/ipt.py``, ``model/common.py``,
``model/__init__.py``, ``option.py``); module names follow it so the released state dicts load
with every Linear weight transposed (``ppuhd.models.convert.ipt``).

One head and one tail per task around a shared transformer body. The body sees exactly one
48 x 48 map (the official ``patch_size``): 3 x 3 patches of 64 features give 256 tokens of 576
dims, 12 pre-norm encoder and 12 pre-norm decoder layers, and the decoder's queries carry a
learned embedding per task. The network works on RGB in 0..255 with the DIV2K mean removed by a
frozen 1 x 1 conv (``MeanShift``); here inputs and outputs are RGB in [0, 1] and the 255 is
internal.

A task is ``'sr_x2'``, ``'sr_x3'``, ``'sr_x4'``, ``'denoise'`` (``'denoise_30'``, ``'denoise_50'``)
or ``'derain'``. A model holds one or more (``tasks``); ``forward(x, task=...)`` picks one per call,
and :meth:`IPT.set_task` sets the one used when ``task`` is not given (what tasks, evaluation and
export call). ``ipt_pretrain`` has the six heads and tails of ``IPT_pretrain.pt`` in the order of
the pre-training data pipeline of the official MindSpore port (``research/cv/IPT/src/data/
bicubic.py``: idx 0-2 = x2/x3/x4, 3 = rain, 4 = noise 30, 5 = noise 50); the PyTorch repository
ships no training code, and the three scale-1 tails have the same shapes, so that order cannot be
read from the checkpoint itself.

Inference (eval mode): a 48 x 48 input is one pass of the network. Any other size goes through
:func:`chop`: ``'official'`` is ``model/__init__.py``'s ``forward_chop`` output for output (48 px
tiles at stride 12, central crops averaged, edge strips; about 400 tile passes for a 256 x 256
image) with each distinct tile computed once; ``'cosine'`` runs tiles at a larger stride blended
with raised-cosine ramps (``ppuhd.inference.tiling``), far fewer passes for a small PSNR cost
(docs/benchmarks.md). Sides below 48 are padded (the project's padding rule) and cropped back;
the official code raises there.
"""
import math
import re
from dataclasses import replace
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..inference import ImageIO, TilingConfig, tiled_predict
from ..registry import MODELS
from ..utils.logger import get_logger
from .layers import torch_default_init_

RGB_MEAN = (0.4488, 0.4371, 0.4040)  # official common.MeanShift default (DIV2K), times rgb_range 255
RGB_RANGE = 255.0
PRETRAIN_TASKS = ('sr_x2', 'sr_x3', 'sr_x4', 'derain', 'denoise_30', 'denoise_50')
CHOPS = ('official', 'cosine')
TileFn = Callable[[np.ndarray], np.ndarray]


def task_scale(task: str) -> int:
    """Upscaling factor of a task name: ``'sr_x3'`` -> 3; denoising and deraining -> 1."""
    if task in ('sr_x2', 'sr_x3', 'sr_x4'):
        return int(task[-1])
    if task in ('denoise', 'denoise_30', 'denoise_50', 'derain'):
        return 1
    raise ValueError(f"IPT task {task!r}: use 'sr_x2', 'sr_x3', 'sr_x4', 'denoise', 'denoise_30', 'denoise_50' "
                     "or 'derain'")


def _conv(cin: int, cout: int, k: int) -> nn.Conv2D:
    return nn.Conv2D(cin, cout, k, padding=k // 2)  # official common.default_conv


class MeanShift(nn.Conv2D):
    """Frozen 1 x 1 conv adding ``sign * 255 * RGB_MEAN`` (official ``common.MeanShift``, std 1).

    Args:
        sign: -1 subtracts the mean (``sub_mean``), +1 adds it back (``add_mean``).
    """

    def __init__(self, sign: int = -1):
        super().__init__(3, 3, 1)
        self.weight.set_value(paddle.eye(3).reshape([3, 3, 1, 1]))
        self.bias.set_value(paddle.to_tensor([sign * RGB_RANGE * m for m in RGB_MEAN], 'float32'))
        for param in self.parameters():
            param.stop_gradient = True  # official: requires_grad = False


class ResBlock(nn.Sequential):
    """x + conv5x5(ReLU(conv5x5(x))) (official ``common.ResBlock`` with kernel 5, as IPT's heads use it).

    Args:
        n_feats: channels.
    """

    def __init__(self, n_feats: int = 64):
        super().__init__()
        self.body = nn.Sequential(_conv(n_feats, n_feats, 5), nn.ReLU(), _conv(n_feats, n_feats, 5))

    def forward(self, x):
        return self.body(x) + x


def _upsampler(scale: int, n_feats: int) -> nn.Sequential:
    """Official ``common.Upsampler``: conv + PixelShuffle(2) per factor 2, conv + PixelShuffle(3), nothing for 1."""
    if scale == 3:
        return nn.Sequential(_conv(n_feats, 9 * n_feats, 3), nn.PixelShuffle(3))
    if scale not in (1, 2, 4):
        raise ValueError(f'IPT upsamples by 1, 2, 3 or 4, not {scale}')
    layers = []
    for _ in range(int(math.log2(scale))):
        layers += [_conv(n_feats, 4 * n_feats, 3), nn.PixelShuffle(2)]
    return nn.Sequential(*layers)


class MultiheadAttention(nn.Layer):
    """``torch.nn.MultiheadAttention(dim, num_heads, bias=False)`` on batch-first ``[B, L, dim]`` tokens.

    The packed in-projection is kept as one parameter, ``in_proj_weight`` ``[dim, 3 dim]`` (PyTorch's
    ``[3 dim, dim]`` transposed), so that inputs shared between query, key and value are projected in
    one matmul.

    Args:
        dim: token width.
        num_heads: heads (``dim`` divisible by it).
        dropout: dropout on the attention weights (official ``dropout_rate``, 0 in the releases).
    """

    def __init__(self, dim: int = 576, num_heads: int = 12, dropout: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'IPT attention width {dim} is not divisible by {num_heads} heads')
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.in_proj_weight = self.create_parameter([dim, 3 * dim])
        self.out_proj = nn.Linear(dim, dim, bias_attr=False)
        self.dropout = nn.Dropout(dropout)

    def _heads(self, t):
        b, n = t.shape[0], t.shape[1]
        return t.reshape([b, n, self.num_heads, self.head_dim]).transpose([0, 2, 1, 3])

    def forward(self, query, key, value):
        dim = self.num_heads * self.head_dim
        if query is key and key is value:
            q, k, v = paddle.split(paddle.matmul(query, self.in_proj_weight), 3, axis=-1)
        elif query is key:
            q, k = paddle.split(paddle.matmul(query, self.in_proj_weight[:, :2 * dim]), 2, axis=-1)
            v = paddle.matmul(value, self.in_proj_weight[:, 2 * dim:])
        elif key is value:
            q = paddle.matmul(query, self.in_proj_weight[:, :dim])
            k, v = paddle.split(paddle.matmul(key, self.in_proj_weight[:, dim:]), 2, axis=-1)
        else:
            q, k, v = (paddle.matmul(t, w) for t, w in zip((query, key, value),
                                                           paddle.split(self.in_proj_weight, 3, axis=-1)))
        q = self._heads(q) * (self.head_dim ** -0.5)  # torch scales q before q k^T
        attn = self.dropout(F.softmax(paddle.matmul(q, self._heads(k), transpose_y=True), axis=-1))
        out = paddle.matmul(attn, self._heads(v)).transpose([0, 2, 1, 3])
        return self.out_proj(out.reshape([out.shape[0], out.shape[1], dim]))


class _FeedForwardLayer(nn.Layer):
    """The ReLU MLP both layer types end with (official ``linear1``, ``dropout``, ``linear2``)."""

    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.linear1 = nn.Linear(dim, hidden)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(hidden, dim)

    def feed_forward(self, x):
        return self.linear2(self.dropout(F.relu(self.linear1(x))))


class EncoderLayer(_FeedForwardLayer):
    """Pre-norm self-attention + ReLU MLP (official ``TransformerEncoderLayer``; positions are added once,
    before the first layer, so query, key and value are the same normalized tokens).

    Args:
        dim: token width.
        num_heads: attention heads.
        hidden: MLP width.
        dropout: official ``dropout_rate``.
    """

    def __init__(self, dim: int = 576, num_heads: int = 12, hidden: int = 2304, dropout: float = 0.0):
        super().__init__(dim, hidden, dropout)
        self.self_attn = MultiheadAttention(dim, num_heads, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x):
        y = self.norm1(x)
        x = x + self.dropout1(self.self_attn(y, y, y))
        return x + self.dropout2(self.feed_forward(self.norm2(x)))


class DecoderLayer(_FeedForwardLayer):
    """Pre-norm self-attention, cross-attention on the encoder output, ReLU MLP (official
    ``TransformerDecoderLayer``); the task embedding is added to the queries (and self-attention keys).

    Args:
        dim: token width.
        num_heads: attention heads.
        hidden: MLP width.
        dropout: official ``dropout_rate``.
    """

    def __init__(self, dim: int = 576, num_heads: int = 12, hidden: int = 2304, dropout: float = 0.0):
        super().__init__(dim, hidden, dropout)
        self.self_attn = MultiheadAttention(dim, num_heads, dropout)
        self.multihead_attn = MultiheadAttention(dim, num_heads, dropout)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.dropout1, self.dropout2, self.dropout3 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x, memory, query_pos):
        y = self.norm1(x)
        q = y + query_pos
        x = x + self.dropout1(self.self_attn(q, q, y))
        x = x + self.dropout2(self.multihead_attn(self.norm2(x) + query_pos, memory, memory))
        return x + self.dropout3(self.feed_forward(self.norm3(x)))


class _Stack(nn.Layer):
    """Holds ``layers`` (official ``TransformerEncoder`` / ``TransformerDecoder``)."""

    def __init__(self, layers: List[nn.Layer]):
        super().__init__()
        self.layers = nn.LayerList(layers)


class LearnedPositionalEncoding(nn.Layer):
    """One learned embedding per token (official class of the same name; its ``position_ids`` buffer is
    ``arange(num_tokens)``, so the embedding table is used in order and the buffer is not kept).

    Args:
        num_tokens: sequence length.
        dim: token width.
    """

    def __init__(self, num_tokens: int = 256, dim: int = 576):
        super().__init__()
        self.pe = nn.Embedding(num_tokens, dim)


class IPTBody(nn.Layer):
    """The shared transformer (official ``VisionTransformer`` with the released options: learned positions
    added once, LayerNorms, the linear encoding and MLP head).

    ``forward(x, task_index)``: ``[B, C, S, S]`` features -> the same shape; ``return_tokens`` also returns the
    ``[B, (S/p)^2, C p^2]`` tokens before folding (the official ``con=True`` output, for the contrastive loss).

    Args:
        img_dim: side of the feature map (official ``patch_size``, 48).
        patch_dim: side of a token's patch (3).
        num_channels: feature channels (64).
        num_heads: attention heads (12).
        num_layers: encoder layers and decoder layers (12 each).
        num_queries: task embeddings (1 per task).
        dropout: official ``dropout_rate``.
    """

    def __init__(self, img_dim: int = 48, patch_dim: int = 3, num_channels: int = 64, num_heads: int = 12,
                 num_layers: int = 12, num_queries: int = 1, dropout: float = 0.0):
        super().__init__()
        if img_dim % patch_dim:
            raise ValueError(f'IPT feature map side {img_dim} is not a multiple of the patch side {patch_dim}')
        self.img_dim, self.patch_dim = img_dim, patch_dim
        self.grid = img_dim // patch_dim
        self.num_tokens = self.grid ** 2
        dim = num_channels * patch_dim * patch_dim
        self.dim = dim
        self.linear_encoding = nn.Linear(dim, dim)
        # official indices: Linear, Dropout, ReLU, Linear, Dropout (mlp_head.0 / mlp_head.3 in checkpoints)
        self.mlp_head = nn.Sequential(nn.Linear(dim, 4 * dim), nn.Dropout(dropout), nn.ReLU(),
                                      nn.Linear(4 * dim, dim), nn.Dropout(dropout))
        self.query_embed = nn.Embedding(num_queries, dim * self.num_tokens)
        self.encoder = _Stack([EncoderLayer(dim, num_heads, 4 * dim, dropout) for _ in range(num_layers)])
        self.decoder = _Stack([DecoderLayer(dim, num_heads, 4 * dim, dropout) for _ in range(num_layers)])
        self.position_encoding = LearnedPositionalEncoding(self.num_tokens, dim)
        self.dropout_layer1 = nn.Dropout(dropout)

    def unfold(self, x):
        """``F.unfold(x, p, stride=p).transpose(1, 2)``: [B, C, S, S] -> [B, tokens, C*p*p] (row-major patches)."""
        c, g, p = x.shape[1], self.grid, self.patch_dim
        x = x.reshape([-1, c, g, p, g, p]).transpose([0, 2, 4, 1, 3, 5])
        return x.reshape([-1, g * g, c * p * p])

    def fold(self, tokens):
        """Inverse of :meth:`unfold` (``F.fold`` of non-overlapping patches)."""
        g, p = self.grid, self.patch_dim
        c = tokens.shape[-1] // (p * p)
        x = tokens.reshape([-1, g, g, c, p, p]).transpose([0, 3, 1, 4, 2, 5])
        return x.reshape([-1, c, g * p, g * p])

    def forward(self, x, task_index: int = 0, return_tokens: bool = False):
        x = self.unfold(x)
        x = self.dropout_layer1(self.linear_encoding(x)) + x
        query_pos = self.query_embed.weight[task_index].reshape([1, self.num_tokens, self.dim])
        x = x + self.position_encoding.pe.weight.unsqueeze(0)
        for layer in self.encoder.layers:
            x = layer(x)
        memory = x
        for layer in self.decoder.layers:
            x = layer(x, memory, query_pos)
        x = self.mlp_head(x) + x
        return (self.fold(x), x) if return_tokens else self.fold(x)


class IPT(nn.Layer):
    """IPT with one head, tail and task embedding per task (official ``ipt``).

    Args:
        tasks: task names (module docstring), one head/tail/embedding each, in checkpoint order.
        n_feats: head/tail channels (official ``n_feats``, 64).
        patch_size: side of the 48 x 48 LR tile the body takes (official ``patch_size``).
        patch_dim: side of a token's patch (official ``patch_dim``, 3).
        num_heads: attention heads (official ``num_heads``, 12).
        num_layers: encoder and decoder layers each (official ``num_layers``, 12).
        dropout_rate: official ``dropout_rate`` (0 in the releases).
        chop: inference on sizes other than ``patch_size``: ``'official'`` (``forward_chop``) or ``'cosine'``.
        chop_stride: stride of the ``'cosine'`` tiles (the official chop's is fixed at ``patch_size // 4``).
        chop_batch_size: tiles per network pass at inference (official ``crop_batch_size``, 64); bounds memory
            (a pass of 64 tiles holds ~200 MB attention maps), does not change the output.
        init_task: fine-tuning a single-task model from an ``ipt_pretrain`` weight file (``model_weights``): the
            pre-training branch (one of :data:`PRETRAIN_TASKS`, same scale) whose head, tail and task embedding
            fill this model's; the file's other branches are left out.
    """

    def __init__(self, tasks: Sequence[str] = ('sr_x2',), n_feats: int = 64, patch_size: int = 48,
                 patch_dim: int = 3, num_heads: int = 12, num_layers: int = 12, dropout_rate: float = 0.0,
                 chop: str = 'official', chop_stride: int = 24, chop_batch_size: int = 64,
                 init_task: Optional[str] = None):
        super().__init__()
        self.tasks = tuple(tasks)
        if not self.tasks or len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f'IPT needs one or more distinct tasks, got {tasks!r}')
        self.scales = tuple(task_scale(t) for t in self.tasks)
        if init_task is not None and (len(self.tasks) != 1 or init_task not in PRETRAIN_TASKS or
                                      task_scale(init_task) != self.scales[0]):
            raise ValueError(f'IPT init_task {init_task!r}: a single-task model takes the branch of the same scale '
                             f'out of an ipt_pretrain file, one of {list(PRETRAIN_TASKS)}')
        self.init_task = init_task
        if chop not in CHOPS:
            raise ValueError(f'IPT chop must be one of {CHOPS}, got {chop!r}')
        if chop == 'cosine' and not 0 < chop_stride <= patch_size:
            raise ValueError(f'IPT chop_stride must be in 1..{patch_size} (the tile side), got {chop_stride}')
        if chop_batch_size < 1:
            raise ValueError(f'IPT chop_batch_size must be >= 1, got {chop_batch_size}')
        self.patch_size, self.chop, self.chop_stride, self.chop_batch_size = patch_size, chop, chop_stride, \
            chop_batch_size
        self.sub_mean, self.add_mean = MeanShift(-1), MeanShift(+1)
        self.head = nn.LayerList([nn.Sequential(_conv(3, n_feats, 3), ResBlock(n_feats), ResBlock(n_feats))
                                  for _ in self.tasks])
        self.body = IPTBody(patch_size, patch_dim, n_feats, num_heads, num_layers, len(self.tasks), dropout_rate)
        self.tail = nn.LayerList([nn.Sequential(_upsampler(s, n_feats), _conv(n_feats, 3, 3)) for s in self.scales])
        self._init_weights()
        # any H x W from 1 px: sides below patch_size are padded inside forward (the official code raises)
        self.image_io = ImageIO(scale=self.scales[0], min_size=1, pads_itself=True, tile_size=patch_size)
        self.task = self.tasks[0]

    def _init_weights(self):
        """PyTorch's defaults, as the official model starts from: Conv/Linear U(+-1/sqrt(fan_in)); embeddings
        N(0, 1); ``nn.MultiheadAttention``'s xavier-uniform in-projection, which the encoder layers redo as
        ``kaiming_uniform_(a=sqrt(5))`` (official ``TransformerEncoderLayer.__init__``)."""
        frozen = [p.numpy() for p in (*self.sub_mean.parameters(), *self.add_mean.parameters())]
        torch_default_init_(self)
        for param, value in zip((*self.sub_mean.parameters(), *self.add_mean.parameters()), frozen):
            param.set_value(value)
        for emb in (self.body.query_embed, self.body.position_encoding.pe):
            emb.weight.set_value(paddle.randn(emb.weight.shape))
        for layers, bound in ((self.body.encoder.layers, lambda d: 1 / math.sqrt(d)),
                              (self.body.decoder.layers, lambda d: math.sqrt(6 / (d + 3 * d)))):
            for layer in layers:
                for attn in (layer.self_attn, getattr(layer, 'multihead_attn', None)):
                    if attn is not None:
                        w = attn.in_proj_weight
                        b = bound(w.shape[0])
                        w.set_value(paddle.uniform(w.shape, w.dtype, -b, b))

    def adapt_state_dict(self, state: Dict[str, paddle.Tensor]) -> Dict[str, paddle.Tensor]:
        """With ``init_task``: the body and that branch of an ``ipt_pretrain`` state dict (head, tail, task
        embedding row), renamed to this single-task model's; the other branches are left out (and logged).
        A single-task file (one task embedding: this model's own checkpoint, e.g. the fine-tuned result that
        ``--weights`` gives with the fine-tuning config) is loaded as it is."""
        queries = state.get('body.query_embed.weight')
        if self.init_task is None or (queries is not None and queries.shape[0] == 1):
            return state
        if queries is None or queries.shape[0] != len(PRETRAIN_TASKS):
            raise ValueError(f'IPT init_task {self.init_task!r} takes a branch out of an ipt_pretrain weight file '
                             f'({len(PRETRAIN_TASKS)} task embeddings); this one has '
                             f'{None if queries is None else queries.shape[0]}')
        index = PRETRAIN_TASKS.index(self.init_task)
        out = {}
        for key, value in state.items():
            m = re.match(r'(head|tail)\.(\d+)\.(.*)', key)
            if m is None:
                out[key] = value[index:index + 1] if key == 'body.query_embed.weight' else value
            elif int(m.group(2)) == index:
                out[f'{m.group(1)}.0.{m.group(3)}'] = value
        get_logger().info('IPT init_task %s: its head, tail and task embedding; the other %d branches left out',
                          self.init_task, len(PRETRAIN_TASKS) - 1)
        return out

    def set_task(self, task: str) -> None:
        """The task ``forward`` runs when called without ``task`` (also sets ``image_io.scale``)."""
        index = self.task_index(task)
        self.task = task
        self.image_io = replace(self.image_io, scale=self.scales[index])

    def task_index(self, task: Optional[str] = None) -> int:
        """Position of ``task`` (default: the current one) among this model's heads and tails."""
        task = self.task if task is None else task
        if task not in self.tasks:
            raise KeyError(f'this IPT has no task {task!r}; its tasks are {list(self.tasks)}')
        return self.tasks.index(task)

    def forward_tile(self, x, task_index: int = 0, return_tokens: bool = False):
        """The network on ``[B, 3, 48, 48]`` RGB in [0, 1] (official ``ipt.forward``, scaled to 0..255 inside)."""
        x = self.sub_mean(x * RGB_RANGE)
        x = self.head[task_index](x)
        res = self.body(x, task_index, return_tokens)
        res, tokens = res if return_tokens else (res, None)
        out = self.add_mean(self.tail[task_index](res + x)) / RGB_RANGE
        return (out, tokens) if return_tokens else out

    def forward(self, x, task: Optional[str] = None, return_tokens: bool = False):
        """RGB ``[B, 3, H, W]`` in [0, 1] -> ``[B, 3, sH, sW]`` for ``task`` (default: :meth:`set_task`'s).

        Training and ``return_tokens`` take 48 x 48 inputs (the body's size). In eval mode a 48 x 48 input is one
        pass, any other size is chopped (class docstring; inference only, no gradient).
        """
        index = self.task_index(task)
        h, w = x.shape[-2:]
        if (h, w) == (self.patch_size, self.patch_size) or not paddle.in_dynamic_mode():
            return self.forward_tile(x, index, return_tokens)
        if self.training or return_tokens:
            raise ValueError(f'IPT trains on {self.patch_size} x {self.patch_size} LR patches (the transformer body '
                             f'takes exactly that size); got {w} x {h}. Crop training inputs to {self.patch_size}')

        def run(tiles: np.ndarray) -> np.ndarray:
            with paddle.no_grad():
                return self.forward_tile(paddle.to_tensor(tiles), index).numpy()
        return paddle.to_tensor(tiled_predict(run, x.numpy(), self.deploy_tiling()))

    def deploy_tiling(self) -> TilingConfig:
        """How images of other sizes than the tile are run: the chop this model's eval ``forward`` does (``chop``,
        ``chop_stride``, ``chop_batch_size``), for the predictor of the exported tile graph."""
        return chop_tiling(self.chop, self.patch_size, self.chop_stride, self.chop_batch_size, self.image_io.pad_mode)

    def deploy_layer(self) -> nn.Layer:
        """The export graph: the network of the current task on fixed ``[N, 3, 48, 48]`` tiles (the chop runs
        outside the graph, as :func:`chop` with the exported tile function)."""
        return _TileNetwork(self, self.task_index())


class _TileNetwork(nn.Layer):
    def __init__(self, model: IPT, task_index: int):
        super().__init__()
        self.model, self.task_index = model, task_index

    def forward(self, x):
        return self.model.forward_tile(x, self.task_index)


# ----------------------------------------------------------------------------------------------------------------
# Test-time chop: ppuhd.inference.tiling on numpy arrays and any tile function (the dygraph network or an
# exported predictor)


def chop_tiling(mode: str = 'official', tile: int = 48, stride: int = 24, batch_size: int = 64,
                pad_mode: str = 'reflect') -> TilingConfig:
    """IPT's test-time tiling as a :class:`~ppuhd.inference.TilingConfig` (what ``forward`` and the predictor run).

    Args:
        mode: ``'official'`` (``forward_chop``: preset ``official_ipt``, tiles every ``tile / 4`` px, central crops
            averaged, edge strips) or ``'cosine'`` (tiles every ``stride`` px plus one flush with each border,
            raised-cosine blending over the overlaps).
        tile: the tile side the network takes.
        stride: the ``'cosine'`` tile stride.
        batch_size: tiles per network call (memory; the output does not depend on it).
        pad_mode: how sides below ``tile`` are padded (bottom/right, ``ppuhd.inference.padding``; cropped back).
    """
    if mode not in CHOPS:
        raise ValueError(f'IPT chop mode must be one of {CHOPS}, got {mode!r}')
    if mode == 'official':
        return TilingConfig(tile=tile, stride=tile // 4, blend='official_ipt', batch_size=batch_size,
                            pad_mode=pad_mode, fixed_tile=True, progress=False)
    return TilingConfig(tile=tile, stride=stride, blend='cosine', batch_size=batch_size, pad_mode=pad_mode,
                        fixed_tile=True, progress=False)


def chop(fn: TileFn, images: np.ndarray, mode: str = 'official', tile: int = 48, stride: int = 24,
         batch_size: int = 64, pad_mode: str = 'reflect') -> np.ndarray:
    """IPT's test-time tiling of ``[N, C, H, W]`` float32 images in [0, 1] with a tile function (``[n, C, 48, 48]``
    -> ``[n, C, 48 s, 48 s]``, any backend); returns ``[N, C, sH, sW]``. Arguments: :func:`chop_tiling`."""
    return tiled_predict(fn, np.asarray(images, np.float32), chop_tiling(mode, tile, stride, batch_size, pad_mode))


def _ipt(tasks: Sequence[str], **kwargs) -> IPT:
    return IPT(**{'tasks': tuple(tasks), **kwargs})


@MODELS.register()
def ipt_sr_x2(**kwargs) -> IPT:
    """IPT x2 super-resolution (released ``IPT_sr2.pt``), 115,460,443 parameters."""
    return _ipt(('sr_x2',), **kwargs)


@MODELS.register()
def ipt_sr_x3(**kwargs) -> IPT:
    """IPT x3 super-resolution (released ``IPT_sr3.pt``), 115,645,083 parameters."""
    return _ipt(('sr_x3',), **kwargs)


@MODELS.register()
def ipt_sr_x4(**kwargs) -> IPT:
    """IPT x4 super-resolution (released ``IPT_sr4.pt``), 115,608,155 parameters."""
    return _ipt(('sr_x4',), **kwargs)


@MODELS.register()
def ipt_denoise(**kwargs) -> IPT:
    """IPT colour denoising (released ``IPT_denoise30.pt`` / ``IPT_denoise50.pt``), 115,312,731 parameters."""
    return _ipt(('denoise',), **kwargs)


@MODELS.register()
def ipt_derain(**kwargs) -> IPT:
    """IPT deraining (released ``IPT_derain.pt``), 115,312,731 parameters."""
    return _ipt(('derain',), **kwargs)


@MODELS.register()
def ipt_pretrain(**kwargs) -> IPT:
    """IPT pre-trained on six tasks (released ``IPT_pretrain.pt``, :data:`PRETRAIN_TASKS`), 118,892,394
    parameters."""
    return _ipt(PRETRAIN_TASKS, **kwargs)
