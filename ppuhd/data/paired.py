"""Paired low/normal-light image dataset for the UHD-LL, LOL and UHD-LOL layouts.

Pairs are matched by file stem (``0001.JPG`` pairs with ``0001.png``); there are
no list files. Everything that can be checked without decoding pixels is
checked in ``__init__``, so a bad dataset fails before the first iteration:
missing folders, empty folders, unmatched or duplicated stems, files that are
not images (header magic bytes), images whose header declares more pixels than the image
gate's limit (``ppuhd.utils.image_io``), and pairs whose header sizes differ.
A file with a valid header but a corrupt body is reported by ``read_image_native``
when it is first read, as an ``OSError`` naming the path.
"""
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from paddle.io import Dataset

from ..registry import DATASETS
from ..utils.image_io import (IMAGE_EXTENSIONS, MAX_PIXELS_ENV, default_max_pixels, list_images, read_image_native,
                              read_image_size, sniff_image_format)
from ..inference.contract import ImageIO
from .transforms import (mod_crop_pair, nine_way_flip_rot, paired_random_crop, random_flip_rot, round_crop_size,
                         to_chw_float)

# (layout name, {split: (input dir, gt dir)}) relative to the dataset root, in search order.
# For LOL-v2 the root is the subset folder, e.g. LOL-v2/Real_captured.
LAYOUTS: Tuple[Tuple[str, Dict[str, Tuple[str, str]]], ...] = (
    ('UHD-LL', {'train': ('training_set/input', 'training_set/gt'),
                'test': ('testing_set/input', 'testing_set/gt')}),
    ('LOL-v1', {'train': ('our485/low', 'our485/high'), 'test': ('eval15/low', 'eval15/high')}),
    ('LOL-v2', {'train': ('Train/Low', 'Train/Normal'), 'test': ('Test/Low', 'Test/Normal')}),
    ('LOL-v2 (lowercase)', {'train': ('train/low', 'train/normal'), 'test': ('test/low', 'test/normal')}),
    ('UHD-LOL4K/8K', {'train': ('train/low', 'train/high'), 'test': ('test/low', 'test/high')}),
)
SPLIT_ALIASES = {'train': 'train', 'test': 'test', 'val': 'test'}
_MAX_LISTED = 5


def find_split_dirs(root: str, split: str) -> Tuple[str, str, str]:
    """(input_dir, gt_dir, layout name) of ``split`` under ``root``, trying every known layout.

    Raises:
        FileNotFoundError: ``root`` is missing or no layout matches; the message lists what was searched.
        ValueError: unknown split, or two different layouts match.
    """
    if split not in SPLIT_ALIASES:
        raise ValueError(f"split must be one of {sorted(SPLIT_ALIASES)}, got '{split}'")
    if not os.path.isdir(root):
        raise FileNotFoundError(f"Dataset root '{root}' does not exist (or is not a folder). "
                                'Build the demo data with `python tools/make_demo_data.py` or fix data.*.root')
    split = SPLIT_ALIASES[split]
    found, searched = [], []
    for name, dirs in LAYOUTS:
        lq_dir, gt_dir = (os.path.join(root, d) for d in dirs[split])
        searched.append(f'  {name}: {lq_dir} [{_exists(lq_dir)}] + {gt_dir} [{_exists(gt_dir)}]')
        if os.path.isdir(lq_dir) and os.path.isdir(gt_dir) and not any(_same(lq_dir, gt_dir, f) for f in found):
            found.append((lq_dir, gt_dir, name))
    if not found:
        raise FileNotFoundError(f"No '{split}' split found under '{root}'. Layouts searched:\n" + '\n'.join(searched)
                                + '\nOr pass input_dir and gt_dir explicitly.')
    if len(found) > 1:
        raise ValueError(f"Ambiguous '{split}' split under '{root}': layouts {[f[2] for f in found]} all match; "
                         'pass input_dir and gt_dir explicitly')
    return found[0]


def _exists(path: str) -> str:
    return 'found' if os.path.isdir(path) else 'missing'


def _same(lq_dir: str, gt_dir: str, other: Tuple[str, str, str]) -> bool:
    """True when both folders are ``other``'s (case-insensitive file systems match two spellings)."""
    return os.path.samefile(lq_dir, other[0]) and os.path.samefile(gt_dir, other[1])


def _images_by_stem(folder: str) -> Dict[str, str]:
    """stem -> path for the images in ``folder``; two files with one stem are an error."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Image folder '{folder}' does not exist")
    by_stem: Dict[str, List[str]] = {}
    for path in list_images(folder):
        by_stem.setdefault(os.path.splitext(os.path.basename(path))[0], []).append(path)
    duplicates = {s: p for s, p in by_stem.items() if len(p) > 1}
    if duplicates:
        raise ValueError(f"{len(duplicates)} stem(s) in '{folder}' have several files, so pairing is ambiguous: "
                         f'{_listed(sorted(duplicates.values()))}')
    if not by_stem:
        raise FileNotFoundError(f"No images in '{folder}' (looked for {', '.join(IMAGE_EXTENSIONS)}, any case)")
    return {s: p[0] for s, p in by_stem.items()}


def _listed(items: Sequence) -> str:
    items = list(items)
    more = f' ... (+{len(items) - _MAX_LISTED} more)' if len(items) > _MAX_LISTED else ''
    return ', '.join(map(str, items[:_MAX_LISTED])) + more


def match_pairs(lq_dir: str, gt_dir: str, lq_key: Optional[Callable[[str], str]] = None,
                gt_key: Optional[Callable[[str], str]] = None) -> List[Tuple[str, str, str]]:
    """(lq_path, gt_path, gt stem) for every pairing key present in both folders, sorted by key.

    The key of a file is its stem, mapped by ``lq_key`` / ``gt_key`` when the two sides name files differently
    (``babyx2`` with ``baby``: see :func:`strip_scale_suffix`; ``rain-001`` with ``norain-001``).

    Raises:
        FileNotFoundError: a folder is missing or holds no images.
        ValueError: some keys are present on one side only, or twice on one side.
    """
    lq, gt = (_keyed(_images_by_stem(d), key, d) for d, key in ((lq_dir, lq_key), (gt_dir, gt_key)))
    lq_only, gt_only = sorted(lq.keys() - gt.keys()), sorted(gt.keys() - lq.keys())
    if lq_only or gt_only:
        names = [os.path.basename(lq[k][0]) for k in lq_only], [os.path.basename(gt[k][0]) for k in gt_only]
        rule = ('Pairs are matched by file name without extension' if lq_key is None and gt_key is None
                else 'Pairs are matched by file name without extension after the naming rule of the layout '
                     "(e.g. 'babyx2' pairs with 'baby', 'rain-001' with 'norain-001')")
        raise ValueError(f"Unpaired images: {len(lq_only)} in '{lq_dir}' without a gt "
                         f'[{_listed(names[0])}], {len(gt_only)} in \'{gt_dir}\' without an input '
                         f'[{_listed(names[1])}]. {rule}.')
    return [(lq[k][0], gt[k][0], gt[k][1]) for k in sorted(lq)]


def _keyed(by_stem: Dict[str, str], key: Optional[Callable[[str], str]], folder: str) -> Dict[str, Tuple[str, str]]:
    """pairing key -> (path, stem); two stems with one key are an error."""
    out: Dict[str, Tuple[str, str]] = {}
    for stem, path in sorted(by_stem.items()):
        k = key(stem) if key else stem
        if k in out:
            raise ValueError(f"'{out[k][0]}' and '{path}' in '{folder}' both pair as '{k}', so pairing is ambiguous")
        out[k] = (path, stem)
    return out


def strip_scale_suffix(scale: int) -> Callable[[str], str]:
    """Pairing key of a low-resolution file: ``babyx2`` -> ``baby`` (DIV2K ``0001x2``, Set5 ``babyx2``) for x2."""
    suffix = f'x{scale}'

    def key(stem: str) -> str:
        return stem[:-len(suffix)] if stem.lower().endswith(suffix) and len(stem) > len(suffix) else stem
    return key


def _size_text(hw) -> str:
    return f'{hw[0]}x{hw[1]}'


def check_headers(pairs: Sequence[Tuple[str, str, str]], scale: int = 1) -> None:
    """Cheap pre-flight check: every file is a non-empty PNG/JPEG/BMP/TIFF/WebP within the pixel limit, and pair
    sizes agree.

    Only file headers are read (a few bytes each), so this is fast even for 4K
    datasets; a corrupt image body is caught by ``read_image_native`` instead.
    With ``scale`` > 1 the gt must be ``scale`` times the input (see ``mod_crop_pair``).

    Raises:
        OSError: some files are not images, or declare too many pixels (listed).
        ValueError: some pairs have sizes that do not pair (listed).
    """
    bad = [p for lq, gt, _ in pairs for p in (lq, gt) if sniff_image_format(p) is None]
    if bad:
        raise OSError(f'{len(bad)} file(s) are empty or not PNG/JPEG/BMP/TIFF/WebP images (unknown header): '
                      f'{_listed(bad)}')
    sizes = {p: read_image_size(p) for lq, gt, _ in pairs for p in (lq, gt)}
    limit = default_max_pixels()
    huge = [f'{p} ({hw[1]}x{hw[0]})' for p, hw in sizes.items() if hw and hw[0] * hw[1] > limit]
    if huge:
        raise OSError(f'{len(huge)} file(s) declare more than {limit} pixels (the image limit, {MAX_PIXELS_ENV}): '
                      f'{_listed(huge)}')
    mismatched = []
    for lq, gt, _ in pairs:
        lq_hw, gt_hw = sizes[lq], sizes[gt]
        if lq_hw and gt_hw and mod_crop_pair(lq_hw, gt_hw, scale) is None:
            mismatched.append(f'{lq} {_size_text(lq_hw)} vs {gt} {_size_text(gt_hw)}')
    if mismatched:
        what = 'different sizes' if scale == 1 else f'sizes that are not x{scale} (input vs gt)'
        raise ValueError(f'{len(mismatched)} pair(s) have {what}: {_listed(mismatched)}')


def cached_read(cache: Optional[Dict[str, np.ndarray]], path: str, reader: Callable[[str], np.ndarray]) -> np.ndarray:
    """``reader(path)``, kept in ``cache`` after the first read when ``cache`` is a dict (a dataset's
    ``cache: true``: small training sets would otherwise decode the same files every sample)."""
    if cache is None:
        return reader(path)
    if path not in cache:
        cache[path] = reader(path)
    return cache[path]


@DATASETS.register()
class PairedImageDataset(Dataset):
    """Degraded input / ground-truth pairs (low/normal light; low/high resolution), float32 CHW RGB in [0, 1].

    Each sample is ``{'lq': array, 'gt': array, 'name': stem}``. The index may be
    an int or ``(int, seed)``: with a seed every random choice (crop position,
    flips, rotation) comes from ``np.random.default_rng(seed)``, so augmentation
    is reproducible and independent of the worker process.

    Args:
        root: dataset root holding one of ``LAYOUTS`` (UHD-LL, LOL-v1, LOL-v2, UHD-LOL4K/8K).
        split: 'train' or 'test' ('val' is an alias of 'test').
        input_dir: low-light folder; with ``gt_dir`` it replaces ``root`` and ``split``.
        gt_dir: normal-light folder matching ``input_dir``.
        crop_size: side (int) or (h, w) of a paired random crop of the INPUT (the gt crop is ``scale`` times
            larger); None keeps whole images (evaluation).
        image_io: the model's contract (set by ``ppuhd.data.builder.build_dataset``): the crop is rounded
            down to its ``size_multiple``, and the gt is its ``scale`` times the input (mod-cropped).
        hflip: random horizontal flip.
        vflip: random vertical flip.
        rot90: random rotation by k * 90 degrees, k in 0..3.
        repeat: the pairs are listed this many times per epoch (for small datasets).
        nine_way: LLFormer's official 9-way flip/rotation draw (``nine_way_flip_rot``) instead of
            ``hflip``/``vflip``/``rot90``, which must then be off.
        cache: keep every decoded image in memory (in each loader process) after its first read: for small sets
            (the demo's 72 pairs: PNG decoding took ~30 ms per 128x128 sample, 10-20 % of a demo step).
    """
    _cache: Optional[Dict[str, np.ndarray]] = None  # subclasses that do not take ``cache`` read from disk

    def __init__(self, root: Optional[str] = None, split: str = 'train', input_dir: Optional[str] = None,
                 gt_dir: Optional[str] = None, crop_size: Optional[Union[int, Sequence[int]]] = None,
                 image_io: Optional[ImageIO] = None, hflip: bool = False, vflip: bool = False, rot90: bool = False,
                 repeat: int = 1, nine_way: bool = False, cache: bool = False):
        super().__init__()
        self._cache = {} if cache else None
        self._setup_augment(crop_size, image_io, hflip, vflip, rot90, repeat, nine_way)
        self.input_dir, self.gt_dir, self.layout = self._resolve_dirs(root, split, input_dir, gt_dir)
        self.pairs = self._match_pairs()
        check_headers(self.pairs, self.image_io.scale)

    def _setup_augment(self, crop_size, image_io, hflip, vflip, rot90, repeat, nine_way) -> None:
        """The contract, crop and augmentation options shared by the paired datasets (see the class Args)."""
        if nine_way and (hflip or vflip or rot90):
            raise ValueError('nine_way replaces hflip/vflip/rot90: set those to false in the dataset config')
        if repeat < 1:
            raise ValueError(f'repeat must be >= 1, got {repeat}')
        self.nine_way = nine_way
        self.image_io = image_io or ImageIO()
        self.crop_hw = round_crop_size(crop_size, self.image_io.size_multiple) if crop_size is not None else None
        self.hflip, self.vflip, self.rot90, self.repeat = hflip, vflip, rot90, repeat

    def _match_pairs(self) -> List[Tuple[str, str, str]]:
        """The (lq, gt, name) pairs of ``input_dir`` and ``gt_dir``; layouts with other naming rules override it."""
        return match_pairs(self.input_dir, self.gt_dir)

    @staticmethod
    def _resolve_dirs(root, split, input_dir, gt_dir) -> Tuple[str, str, str]:
        if (input_dir is None) != (gt_dir is None):
            raise ValueError('Pass both input_dir and gt_dir, or neither (then root and split are used)')
        if input_dir is not None:
            for folder in (input_dir, gt_dir):
                if not os.path.isdir(folder):
                    raise FileNotFoundError(f"Image folder '{folder}' does not exist")
            return input_dir, gt_dir, 'explicit'
        if root is None:
            raise ValueError('PairedImageDataset needs root (with split) or input_dir and gt_dir')
        return find_split_dirs(root, split)

    def __len__(self) -> int:
        return len(self.pairs) * self.repeat

    def __getitem__(self, index: Union[int, Tuple[int, int]]) -> Dict[str, object]:
        index, seed = index if isinstance(index, (tuple, list)) else (index, None)
        lq_path, gt_path, stem = self.pairs[int(index) % len(self.pairs)]
        lq, gt = self._read(lq_path), self._read(gt_path)
        scale = self.image_io.scale
        gt_hw = mod_crop_pair(lq.shape[:2], gt.shape[:2], scale)
        if gt_hw is None:
            what = 'different sizes' if scale == 1 else f'sizes that are not x{scale}'
            raise ValueError(f'Pair {stem} has {what}: {lq_path} {lq.shape[:2]} vs {gt_path} {gt.shape[:2]}')
        gt = gt[:gt_hw[0], :gt_hw[1]]
        lq, gt = self._augment(lq, gt, np.random.default_rng(seed), lq_path)
        return {'lq': to_chw_float(lq), 'gt': to_chw_float(gt), 'name': stem}

    def _read(self, path: str) -> np.ndarray:
        return cached_read(self._cache, path, read_image_native)

    def _augment(self, lq: np.ndarray, gt: np.ndarray, rng: np.random.Generator, name: str):
        # Crop first: flipping or rotating a 4K image to keep a small patch would waste most of the work.
        if self.crop_hw is not None:
            lq, gt = paired_random_crop(lq, gt, self.crop_hw, rng, name, self.image_io.scale)
        if self.nine_way:
            return nine_way_flip_rot((lq, gt), rng)
        return random_flip_rot((lq, gt), rng, self.hflip, self.vflip, self.rot90)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({len(self.pairs)} pairs x{self.repeat}, layout {self.layout}, '
                f'input {self.input_dir}, crop {self.crop_hw})')
