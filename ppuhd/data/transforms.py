"""Paired transforms for image restoration: every random choice is applied to lq and gt alike.

All functions take HWC arrays and an explicit ``np.random.Generator``, so a
sample's augmentation is a pure function of its seed (see
``ppuhd.data.samplers``), whatever worker process computes it.
"""
from typing import Optional, Sequence, Tuple, Union

import numpy as np

CropSize = Union[int, Sequence[int]]


def round_crop_size(crop_size: CropSize, size_multiple: int = 1) -> Tuple[int, int]:
    """(h, w) of ``crop_size`` rounded down to a multiple of ``size_multiple`` (and at least one multiple)."""
    hw = (crop_size, crop_size) if isinstance(crop_size, (int, np.integer)) else tuple(crop_size)
    if len(hw) != 2 or any(int(s) <= 0 for s in hw):
        raise ValueError(f'crop_size must be a positive int or (h, w), got {crop_size!r}')
    if size_multiple < 1:
        raise ValueError(f'size_multiple must be >= 1, got {size_multiple}')
    return tuple(max(size_multiple, int(s) // size_multiple * size_multiple) for s in hw)


def paired_random_crop(lq: np.ndarray, gt: np.ndarray, crop_hw: Tuple[int, int], rng: np.random.Generator,
                       name: str = '', scale: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """A random ``crop_hw`` window of lq and the window ``scale`` times larger at the same place of gt.

    gt must be ``scale`` times the size of lq (``scale`` 1: equal sizes; see :func:`mod_crop_pair`).

    Raises:
        ValueError: the image is smaller than the crop.
    """
    (h, w), (ch, cw) = lq.shape[:2], crop_hw
    if h < ch or w < cw:
        raise ValueError(f'Image {name} is {h}x{w}, smaller than the crop {ch}x{cw}; '
                         'lower crop_size or drop the image')
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    s = scale
    return lq[top:top + ch, left:left + cw], gt[s * top:s * (top + ch), s * left:s * (left + cw)]


def mod_crop_pair(lq_hw: Tuple[int, int], gt_hw: Tuple[int, int], scale: int) -> Optional[Tuple[int, int]]:
    """The (h, w) gt is cropped to (top-left) for an lq of ``lq_hw``, or None when the sizes do not pair.

    gt pairs with lq when it is ``scale`` x lq, or up to ``scale - 1`` pixels larger: a high-resolution
    image that was not mod-cropped to the scale before its low-resolution copy was made (BasicSR's
    ``mod_crop`` of the ground truth).
    """
    out = tuple(scale * s for s in lq_hw)
    return out if all(0 <= g - o < scale for g, o in zip(gt_hw, out)) else None


def random_flip_rot(images: Sequence[np.ndarray], rng: np.random.Generator, hflip: bool = False,
                    vflip: bool = False, rot90: bool = False) -> Tuple[np.ndarray, ...]:
    """Apply one random horizontal flip, vertical flip and rotation by k*90 degrees to all ``images``.

    Together the three give the 8 symmetries of the square (BasicSR ``augment``,
    LLFormer's 8-way augmentation). Draws happen only for enabled options, in
    a fixed order, so enabling one does not change the others' outcome for a seed.
    """
    do_h = hflip and rng.random() < 0.5
    do_v = vflip and rng.random() < 0.5
    k = int(rng.integers(0, 4)) if rot90 else 0
    out = []
    for img in images:
        if do_h:
            img = img[:, ::-1]
        if do_v:
            img = img[::-1]
        if k:
            img = np.rot90(img, k, axes=(0, 1))
        out.append(img)
    return tuple(out)


def to_chw_float(img: np.ndarray, max_value: Optional[float] = None) -> np.ndarray:
    """HWC uint8/uint16 (or float) -> contiguous float32 CHW in [0, 1]."""
    if max_value is None:
        max_value = np.iinfo(img.dtype).max if np.issubdtype(img.dtype, np.integer) else 1.0
    chw = np.transpose(img, (2, 0, 1)).astype(np.float32)
    return np.ascontiguousarray(chw / np.float32(max_value))


# LLFormer transform/dataset_RGB.py DataLoaderTrain: aug = random.randint(0, 8) on CHW tensors;
# 1 flip(H), 2 flip(W), 3-5 rot90 k=1..3 over (H, W), 6 rot90(flip(H)), 7 rot90(flip(W)),
# 0 and 8 identity (so identity has probability 2/9, each other op 1/9).
_NINE_WAY = ((False, False, 0), (True, False, 0), (False, True, 0), (False, False, 1), (False, False, 2),
             (False, False, 3), (True, False, 1), (False, True, 1), (False, False, 0))


def nine_way_flip_rot(images: Sequence[np.ndarray], rng: np.random.Generator) -> Tuple[np.ndarray, ...]:
    """LLFormer's 9-way augmentation of HWC ``images``, one draw shared by all (see ``_NINE_WAY``)."""
    flip_h, flip_w, k = _NINE_WAY[int(rng.integers(0, 9))]
    out = []
    for img in images:
        if flip_h:
            img = img[::-1]
        if flip_w:
            img = img[:, ::-1]
        out.append(np.rot90(img, k, axes=(0, 1)) if k else img)
    return tuple(out)
