"""Resampling of absolute position embeddings to another patch grid.

Prefix tokens (class, distillation) keep their embedding; the patch-grid part is
resized as an image with bicubic interpolation, ``align_corners=False``:

- ``antialias=False`` is deit's ``main.py --finetune`` (``F.interpolate(..., mode='bicubic',
  align_corners=False)``), the default here;
- ``antialias=True`` is timm's ``resample_abs_pos_embed`` default, which calls torch's
  anti-aliased bicubic: a Keys kernel with a = -0.5 (not -0.75), widened by the scale when
  downsampling, with weights renormalised at the borders (ATen ``UpSampleKernel.cpp``,
  ``_compute_weights_aa``). The two differ by up to ~0.35 on trained embeddings.
"""
from typing import Optional, Sequence

import numpy as np
import paddle
import paddle.nn.functional as F


def _keys_cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def antialias_bicubic_matrix(in_size: int, out_size: int) -> np.ndarray:
    """``[out_size, in_size]`` weights of torch's anti-aliased bicubic resize along one axis."""
    scale = in_size / out_size
    support = 2.0 * max(scale, 1.0)  # interp_size 4 / 2, widened when downsampling
    inv_scale = 1.0 / scale if scale >= 1.0 else 1.0
    weights = np.zeros((out_size, in_size))
    for i in range(out_size):
        center = scale * (i + 0.5)
        # int() truncates toward zero, as the C++ static_cast does
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), in_size)
        taps = _keys_cubic((np.arange(lo, hi) - center + 0.5) * inv_scale)
        weights[i, lo:hi] = taps / taps.sum() if taps.sum() != 0 else taps
    return weights.astype('float32')


def resize_grid(grid: paddle.Tensor, new_grid: Sequence[int], antialias: bool = False) -> paddle.Tensor:
    """Bicubic resize (align_corners False) of ``grid`` ``[N, C, H, W]`` to ``new_grid`` ``(H', W')``."""
    if not antialias:
        return F.interpolate(grid, size=list(new_grid), mode='bicubic', align_corners=False)
    if not paddle.in_dynamic_mode():
        raise ValueError('pos_embed_antialias=True needs sizes known in advance: export with a fixed input '
                         'size, or build the model with pos_embed_antialias=False')
    rows = paddle.to_tensor(antialias_bicubic_matrix(grid.shape[2], int(new_grid[0])), dtype=grid.dtype)
    cols = paddle.to_tensor(antialias_bicubic_matrix(grid.shape[3], int(new_grid[1])), dtype=grid.dtype)
    return paddle.matmul(paddle.matmul(rows, grid), cols, transpose_y=True)


def resample_pos_embed(pos_embed: paddle.Tensor, new_grid: Sequence[int], num_prefix_tokens: int = 1,
                       antialias: bool = False, old_grid: Optional[Sequence[int]] = None) -> paddle.Tensor:
    """Resample ``pos_embed`` ``[1, prefix + gh*gw, D]`` to the patch grid ``new_grid`` ``(H', W')``.

    Args:
        pos_embed: embedding whose first ``num_prefix_tokens`` rows belong to prefix tokens.
        new_grid: target patch grid (rows, cols).
        num_prefix_tokens: 1 for ViT (class token), 2 for distilled DeiT (class + distillation).
        antialias: timm's anti-aliased resize instead of deit's plain bicubic (see module doc).
        old_grid: current grid; default: square, from the token count.
    """
    num_grid = pos_embed.shape[1] - num_prefix_tokens
    if old_grid is None:
        side = int(round(num_grid ** 0.5))
        if side * side != num_grid:
            raise ValueError(f'pos_embed has {num_grid} grid tokens, not a square grid: pass old_grid')
        old_grid = (side, side)
    if paddle.in_dynamic_mode() and tuple(old_grid) == tuple(new_grid):
        return pos_embed
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    dim = grid.shape[-1]
    grid = grid.reshape([1, old_grid[0], old_grid[1], dim]).transpose([0, 3, 1, 2])
    grid = resize_grid(grid.astype('float32'), new_grid, antialias).astype(pos_embed.dtype)
    # [1, D, H', W'] -> [1, H' * W', D] as flatten then transpose, not transpose then reshape: Paddle
    # Inference 3.3.1's operator_reshape_onednn_fuse_pass (on by default with oneDNN) fuses the latter
    # into a fused_transpose whose output type keeps the 4-D shape ("The type tensor<1x196x192xf32> of
    # outputs[0][1] must be equal to type tensor<1x14x14x192xf32>" at the concat with the prefix tokens)
    grid = grid.flatten(2).transpose([0, 2, 1])
    return paddle.concat([prefix, grid], axis=1)
