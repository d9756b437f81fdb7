"""Datasets for super-resolution, Gaussian denoising and deraining, and where the real benchmark images are.

* ``SRPairedDataset``: LR/HR pairs in the DIV2K/Flickr2K layout (``DIV2K_train_HR`` +
  ``DIV2K_train_LR_bicubic/X2/0001x2.png``, and their ``_sub`` sub-image folders), the common benchmark layout
  (``Set5/HR`` + ``Set5/LR_bicubic/X2/babyx2.png``) or EDT's (``HR/x2/baby.png`` + ``LR/x2/babyx2.png``), or
  explicit folders. The scale is the model's (``image_io.scale``) and must have its folder in the layout.
* ``SRSyntheticDataset``: HR-only folders (DIV2K HR, an ImageNet-layout tree); the LR is made on the fly by
  MATLAB bicubic (:mod:`ppuhd.data.degradations`), equal to the offline LR of the whole image.
* ``DenoiseDataset``: clean folders (McMaster, CBSD68, Kodak24); Gaussian noise of ``sigma`` on the 0..255
  scale, per-sample seeds for training, a fixed noise per image for evaluation (EDT's seed-0 stream or one
  seed per image), clipped or not as the protocol says.
* ``MultiDegradationDataset``: IPT's pre-training data: clean images (an ImageNet-layout tree), each sample
  degraded on the fly for every task (bicubic x2/x3/x4, Gaussian noise, rain streaks), one task per batch
  chosen by ``ppuhd.tasks.IPTPretrainTask``.
* ``DerainDataset``: Rain100L/H pairs ``rain/rain-001.png`` + ``norain/norain-001.png`` (and the one-folder
  RainTrainL/H and ``input``/``target`` layouts).

Every sample is ``{'lq': float32 CHW, 'gt': float32 CHW, 'name': str}`` in [0, 1] (a noisy input may leave
[0, 1] when the protocol does not clip), and an index may be ``(index, seed)``: all random choices then come
from ``np.random.default_rng(seed)``. Layout problems (missing folders, unmatched names, a scale without its
folder, sizes that are not x scale) are reported at construction, naming the paths.
"""
import os
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from paddle.io import Dataset

from ..inference.contract import ImageIO
from ..registry import DATASETS
from ..utils.image_io import IMAGE_EXTENSIONS, list_images, read_image, read_image_size
from .degradations import (SequentialNoiseStream, add_gaussian_noise, add_rain_streaks, bicubic_downscale,
                           bicubic_downscale_patch)
from .paired import PairedImageDataset, _listed, cached_read, check_headers, match_pairs, strip_scale_suffix
from .transforms import random_flip_rot, round_crop_size, to_chw_float

BENCHMARK_ENV = 'PPUHD_BENCHMARK_DATA'
_REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
Roots = Union[str, Sequence[str]]
CropSize = Optional[Union[int, Sequence[int]]]


def benchmark_data_dir(*parts: str) -> Optional[str]:
    """The folder ``parts`` of the real benchmark images, or None when it is not there.

    The root is ``$PPUHD_BENCHMARK_DATA``, by default ``<repo>/../shared/data`` (Set5, Rain100L, McMaster as
    distributed with fenglinglwb/EDT's ``test_sets``). Tests and demos skip what needs it when None.
    """
    root = os.environ.get(BENCHMARK_ENV) or os.path.join(_REPO_ROOT, '..', 'shared', 'data')
    path = os.path.join(root, *parts)
    return os.path.abspath(path) if os.path.isdir(path) else None


def _roots(root: Optional[Roots], what: str) -> List[str]:
    if root is None:
        raise ValueError(f'{what} needs root (a folder or a list of folders)')
    roots = [root] if isinstance(root, str) else list(root)
    if not roots:
        raise ValueError(f'{what}: root is an empty list')
    for r in roots:
        if not os.path.isdir(r):
            raise FileNotFoundError(f"Dataset root '{r}' does not exist (or is not a folder); fix data.*.root")
    return roots


def resolve_scale(image_io: Optional[ImageIO], scale: Optional[int], what: str) -> int:
    """The SR scale: the model's ``image_io.scale``, or ``scale`` from the config; both given must agree."""
    model_scale = image_io.scale if image_io is not None else None
    if scale is not None and (int(scale) != scale or scale < 1):
        raise ValueError(f'{what}: scale must be a positive integer, got {scale!r}')
    if model_scale is not None and scale is not None and model_scale != scale:
        raise ValueError(f'{what}: the dataset says scale {scale} but the model is x{model_scale} '
                         f'(image_io.scale); drop the dataset scale or build the x{scale} model')
    if scale is None and (model_scale is None or model_scale == 1):
        raise ValueError(f'{what} needs a scale > 1: build it with an SR model (its image_io.scale) or set scale')
    return int(scale if scale is not None else model_scale)


# --- super-resolution pairs -----------------------------------------------------------------------------

def _scale_dirs(folder: str, pattern: str) -> Dict[int, str]:
    """{scale: path} of the sub-folders of ``folder`` named like ``X2`` / ``x2`` (``pattern`` % scale)."""
    out = {}
    if os.path.isdir(folder):
        for entry in os.scandir(folder):
            m = re.fullmatch(pattern, entry.name, flags=re.IGNORECASE)
            if entry.is_dir() and m:
                out[int(m.group(1))] = entry.path
    return out


def _pick_scale(found: Dict[int, str], scale: int, where: str) -> str:
    if scale not in found:
        have = ', '.join(f'x{s}' for s in sorted(found)) or 'none'
        raise FileNotFoundError(f"No x{scale} folder in '{where}' (scales found: {have}). The dataset is built for "
                                f'x{scale} (the model\'s image_io.scale, or scale in the config): use a model of a '
                                'scale that is there, or make the LR images')
    return found[scale]


def _div2k_prefixes(root: str, sub: bool) -> Dict[str, str]:
    """{prefix: HR folder} of ``<prefix>_HR`` (``_HR_sub``) folders that have a ``<prefix>_LR_bicubic`` beside."""
    tail = '_HR_sub' if sub else '_HR'
    out = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.is_dir() and entry.name.endswith(tail):
            prefix = entry.name[:-len(tail)]
            if os.path.isdir(os.path.join(root, f'{prefix}_LR_bicubic')):
                out[prefix] = entry.path
    return out


_VAL_WORDS = ('valid', 'val', 'test')


def _split_prefixes(prefixes: Dict[str, str], split: str) -> Dict[str, str]:
    """The prefixes of ``split``: 'DIV2K_valid' for val/test; 'DIV2K_train' or a split-less 'Flickr2K' for train."""
    def is_val(prefix):
        return any(w in re.split(r'[_\-]', prefix.lower()) for w in _VAL_WORDS)
    want_val = split in ('val', 'test')
    return {p: d for p, d in prefixes.items() if is_val(p) == want_val}


def find_sr_dirs(root: str, split: str, scale: int, sub_images: Optional[bool] = None) -> Tuple[str, str, str]:
    """(LR dir, HR dir, layout name) of the x``scale`` ``split`` of ``root``, trying every SR layout.

    Layouts: ``<P>_HR`` + ``<P>_LR_bicubic/X{s}`` (DIV2K, Flickr2K; ``P`` of the split, e.g. ``DIV2K_train`` /
    ``DIV2K_valid``), the same with ``_HR_sub`` + ``X{s}_sub`` (sub-images, ``tools/extract_subimages.py``),
    ``HR`` + ``LR_bicubic/X{s}`` (benchmarks), ``HR/x{s}`` + ``LR/x{s}`` (EDT's test sets). The benchmark
    layouts have no split: the folder is used as it is. ``sub_images`` True / False picks the DIV2K-style
    sub-image folders or the full images when a root holds both (None: both are an ambiguity error).

    Raises:
        FileNotFoundError: no layout, or the layout has no folder for ``scale`` (the scales found are listed).
        ValueError: several layouts (or several DIV2K-style prefixes of the split) match.
    """
    if split not in ('train', 'val', 'test'):
        raise ValueError(f"split must be 'train', 'val' or 'test', got '{split}'")
    found, searched = [], []
    for sub in (False, True) if sub_images is None else (sub_images,):
        prefixes = _split_prefixes(_div2k_prefixes(root, sub), split)
        kind = 'DIV2K/Flickr2K sub-images' if sub else 'DIV2K/Flickr2K'
        searched.append(f"  {kind}: <name>{'_HR_sub' if sub else '_HR'} + <name>_LR_bicubic/X{scale}"
                        f"{'_sub' if sub else ''} ({'found ' + ', '.join(prefixes) if prefixes else 'missing'})")
        if len(prefixes) > 1:
            raise ValueError(f"Several {kind} sets of the '{split}' split in '{root}': {sorted(prefixes)}; "
                             'give one folder per set as root: [a, b] to train on several')
        for prefix, hr_dir in prefixes.items():
            lr_root = os.path.join(root, f'{prefix}_LR_bicubic')
            lr_dir = _pick_scale(_scale_dirs(lr_root, r'x(\d+)_sub' if sub else r'x(\d+)'), scale, lr_root)
            found.append((lr_dir, hr_dir, f'{kind} ({prefix})'))
    hr, lr_bicubic, lr_edt = (os.path.join(root, d) for d in ('HR', 'LR_bicubic', 'LR'))
    searched.append(f'  benchmark: HR + LR_bicubic/X{scale} ({_state(hr)}, {_state(lr_bicubic)})')
    searched.append(f'  EDT test sets: HR/x{scale} + LR/x{scale} ({_state(hr)}, {_state(lr_edt)})')
    edt_hr = _scale_dirs(hr, r'x(\d+)')
    if os.path.isdir(lr_bicubic) and os.path.isdir(hr):
        found.append((_pick_scale(_scale_dirs(lr_bicubic, r'x(\d+)'), scale, lr_bicubic), hr, 'benchmark'))
    if os.path.isdir(lr_edt) and edt_hr:
        found.append((_pick_scale(_scale_dirs(lr_edt, r'x(\d+)'), scale, lr_edt),
                      _pick_scale(edt_hr, scale, hr), 'EDT test sets'))
    if not found:
        raise FileNotFoundError(f"No super-resolution layout under '{root}'. Layouts searched:\n"
                                + '\n'.join(searched) + '\nOr pass input_dir (LR) and gt_dir (HR) explicitly.')
    if len(found) > 1:
        raise ValueError(f"Ambiguous SR layout under '{root}': {[f[2] for f in found]} all match; "
                         'set sub_images: true or false (DIV2K-style sets), or pass input_dir and gt_dir')
    return found[0]


def _state(path: str) -> str:
    return f"{os.path.basename(path)} {'found' if os.path.isdir(path) else 'missing'}"


def _lr_key(lq_dir: str, scale: int) -> Optional[Callable[[str], str]]:
    """``strip_scale_suffix`` when every LR file ends with ``x{scale}`` (``babyx2``); None when names equal."""
    key = strip_scale_suffix(scale)
    stems = [os.path.splitext(os.path.basename(p))[0] for p in list_images(lq_dir)]
    return key if stems and all(key(s) != s for s in stems) else None


@DATASETS.register()
class SRPairedDataset(PairedImageDataset):
    """Low-resolution / high-resolution pairs at the model's scale (see :func:`find_sr_dirs` for the layouts).

    LR files named ``<hr stem>x<scale>`` (``babyx2.png``, ``0001x2.png``) pair with ``<hr stem>``; files with
    equal names pair directly. The HR is mod-cropped to scale x the LR (``mod_crop_pair``), sizes are checked
    from the headers at construction, and the random crop takes an LR patch and the HR patch scale x larger.

    Args:
        root: dataset root, or a list of roots whose pairs are concatenated (e.g. DIV2K and Flickr2K).
        split: 'train', 'val' or 'test' (picks ``DIV2K_train`` or ``DIV2K_valid``; benchmark folders have none).
        sub_images: DIV2K-style roots holding full images and ``_sub`` sub-images: True reads the sub-images,
            False the full images; None (default) requires only one of them to be there.
        input_dir: LR folder; with ``gt_dir`` it replaces ``root`` and ``split``.
        gt_dir: HR folder matching ``input_dir``.
        scale: the SR factor; by default the model's ``image_io.scale`` (both given must agree).
        crop_size: side (int) or (h, w) of the random LR patch (the HR patch is scale x larger); None keeps
            whole images (evaluation).
        image_io: the model's contract (set by ``ppuhd.data.builder.build_dataset``).
        hflip: random horizontal flip.
        vflip: random vertical flip.
        rot90: random rotation by k * 90 degrees.
        repeat: the pairs are listed this many times per epoch.
    """

    def __init__(self, root: Optional[Roots] = None, split: str = 'train', sub_images: Optional[bool] = None,
                 input_dir: Optional[str] = None, gt_dir: Optional[str] = None, scale: Optional[int] = None,
                 crop_size: CropSize = None,
                 image_io: Optional[ImageIO] = None, hflip: bool = False, vflip: bool = False, rot90: bool = False,
                 repeat: int = 1):
        Dataset.__init__(self)
        self.scale = resolve_scale(image_io, scale, 'SRPairedDataset')
        self._setup_augment(crop_size, image_io or ImageIO(scale=self.scale), hflip, vflip, rot90, repeat, False)
        if input_dir is not None or gt_dir is not None:
            self.sets = [self._resolve_dirs(None, split, input_dir, gt_dir)]
        else:
            self.sets = [find_sr_dirs(r, split, self.scale, sub_images) for r in _roots(root, 'SRPairedDataset')]
        self.input_dir, self.gt_dir = self.sets[0][0], self.sets[0][1]
        self.layout = ' + '.join(s[2] for s in self.sets)
        self.pairs = self._match_pairs()
        check_headers(self.pairs, self.scale)

    def _match_pairs(self) -> List[Tuple[str, str, str]]:
        return [p for lq_dir, gt_dir, _ in self.sets
                for p in match_pairs(lq_dir, gt_dir, lq_key=_lr_key(lq_dir, self.scale))]


@DATASETS.register()
class SRSyntheticDataset(Dataset):
    """HR images only; the LR is their MATLAB bicubic downscale, made on the fly (uint8 in and out, as the
    benchmarks' LR files: see :func:`ppuhd.data.degradations.imresize`).

    Training crops resize only the patch plus a 3-pixel margin, and equal the same window of the LR of the
    whole (mod-cropped) image exactly (:func:`~ppuhd.data.degradations.bicubic_downscale_patch`).

    Args:
        root: folder of HR images, or a list of folders.
        recursive: also take images in sub-folders (an ImageNet-layout tree for pre-training).
        max_images: keep the first N images in sorted path order (EDT pre-trains on the first 200K of ImageNet).
        skip_smaller: drop images smaller than the HR patch at construction (read from the headers) instead of
            failing when one is drawn; the count is in ``repr``.
        scale: the SR factor; by default the model's ``image_io.scale`` (both given must agree).
        crop_size: side (int) or (h, w) of the LR patch (the HR patch is scale x larger); None: whole images.
        image_io: the model's contract (set by ``ppuhd.data.builder.build_dataset``).
        hflip: random horizontal flip.
        vflip: random vertical flip.
        rot90: random rotation by k * 90 degrees.
        repeat: the images are listed this many times per epoch.
        cache: keep every decoded HR image in memory (in each loader process) after its first read: for small
            sets of large images (the demo's 12 photos: 11 ms of PNG decoding per 17x17 patch otherwise).
    """

    def __init__(self, root: Optional[Roots] = None, recursive: bool = False, max_images: Optional[int] = None,
                 skip_smaller: bool = False, scale: Optional[int] = None, crop_size: CropSize = None,
                 image_io: Optional[ImageIO] = None, hflip: bool = False, vflip: bool = False, rot90: bool = False,
                 repeat: int = 1, cache: bool = False):
        super().__init__()
        self._cache: Optional[Dict[str, np.ndarray]] = {} if cache else None
        self.scale = resolve_scale(image_io, scale, 'SRSyntheticDataset')
        self.image_io = image_io or ImageIO(scale=self.scale)
        self.crop_hw = round_crop_size(crop_size, self.image_io.size_multiple) if crop_size is not None else None
        if repeat < 1:
            raise ValueError(f'repeat must be >= 1, got {repeat}')
        self.hflip, self.vflip, self.rot90, self.repeat = hflip, vflip, rot90, repeat
        self.roots = _roots(root, 'SRSyntheticDataset')
        self.paths = _image_paths(self.roots, recursive, max_images)
        self.skipped = 0
        if skip_smaller and self.crop_hw is not None:
            self.paths, self.skipped = _at_least(self.paths, tuple(c * self.scale for c in self.crop_hw))

    def __len__(self) -> int:
        return len(self.paths) * self.repeat

    def __getitem__(self, index: Union[int, Tuple[int, int]]) -> Dict[str, object]:
        index, seed = index if isinstance(index, (tuple, list)) else (index, None)
        path = self.paths[int(index) % len(self.paths)]
        hr, s = self._read(path), self.scale
        name = os.path.splitext(os.path.basename(path))[0]
        rng = np.random.default_rng(seed)
        if self.crop_hw is None:
            hr = hr[:hr.shape[0] - hr.shape[0] % s, :hr.shape[1] - hr.shape[1] % s]
            lq = bicubic_downscale(hr, s)
        else:
            (ch, cw), lr_h, lr_w = self.crop_hw, hr.shape[0] // s, hr.shape[1] // s
            if lr_h < ch or lr_w < cw:
                raise ValueError(f'Image {path} is {hr.shape[0]}x{hr.shape[1]}, smaller than the x{s} HR patch '
                                 f'{ch * s}x{cw * s}; lower crop_size, set skip_smaller: true or drop the image')
            top, left = int(rng.integers(0, lr_h - ch + 1)), int(rng.integers(0, lr_w - cw + 1))
            lq, hr = bicubic_downscale_patch(hr, s, top, left, (ch, cw))
        lq, hr = random_flip_rot((lq, hr), rng, self.hflip, self.vflip, self.rot90)
        return {'lq': to_chw_float(lq), 'gt': to_chw_float(hr), 'name': name}

    def _read(self, path: str) -> np.ndarray:
        return cached_read(self._cache, path, read_image)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({len(self.paths)} HR images x{self.repeat}, x{self.scale}, '
                f'{self.skipped} smaller than the patch skipped, roots {self.roots}, crop {self.crop_hw})')


def _list_tree(root: str, recursive: bool) -> List[str]:
    if not recursive:
        return list_images(root)
    out = []
    for folder, dirs, _ in os.walk(root):
        dirs.sort()
        out.extend(list_images(folder))
    return out


def _image_paths(roots: List[str], recursive: bool, max_images: Optional[int]) -> List[str]:
    """The sorted images of ``roots`` (and their subfolders when ``recursive``: ImageNet's class folders), the first
    ``max_images`` of them (EDT pre-trains on the first 200K ImageNet images); an error when there are none."""
    paths = sorted(p for r in roots for p in _list_tree(r, recursive))[:max_images]
    if not paths:
        raise FileNotFoundError(f"No images in {roots} (looked for {', '.join(IMAGE_EXTENSIONS)}"
                                f"{', recursively' if recursive else ''})")
    return paths


def _at_least(paths: List[str], hw: Tuple[int, int]) -> Tuple[List[str], int]:
    """The images of ``paths`` whose header says at least ``hw`` (unreadable headers kept: the image gate reports
    them when read), and how many were left out."""
    sizes = [(p, read_image_size(p)) for p in paths]
    kept = [p for p, size in sizes if size is None or (size[0] >= hw[0] and size[1] >= hw[1])]
    return kept, len(paths) - len(kept)


# --- denoising ------------------------------------------------------------------------------------------

# fenglinglwb/EDT test_sample.py keeps these extensions only (case-sensitive) when it lists the test folder,
# and the file order fixes which part of its noise stream each image gets.
_EDT_EXTENSIONS = ('.png', '.jpg', '.tif')
NOISE_SEEDING = ('per_image', 'edt')


@DATASETS.register()
class DenoiseDataset(Dataset):
    """Clean images with synthetic Gaussian noise: ``lq`` = clean + N(0, sigma^2) on the 0..255 scale.

    Training samples (index with a seed) draw crop, flips and noise from that seed. Evaluation samples (plain
    index) get a fixed noise per image, by ``eval_seeding``:

    * ``'per_image'``: ``np.random.default_rng([noise_seed, index])``, independent of the other images.
    * ``'edt'``: fenglinglwb/EDT ``test_sample.py`` exactly: one legacy ``np.random.seed(noise_seed)`` stream
      over the sorted files, noise drawn in BGR order (see ``SequentialNoiseStream``); one folder only.

    The protocols differ in clipping too: EDT does not clip (``clip: false``); IPT clamps the noisy image to
    [0, 255] (``clip: true``; its ``torch.randn`` noise cannot be drawn in numpy, so use ``'per_image'``).

    Args:
        root: folder of clean images (McMaster, CBSD68, Kodak24), or a list of folders (training).
        sigma: noise standard deviation on the 0..255 scale (15, 25, 50).
        clip: clamp the noisy image to [0, 255] (IPT) or not (EDT).
        eval_seeding: 'per_image' or 'edt' (above).
        noise_seed: the seed of the evaluation noise.
        crop_size: side (int) or (h, w) of a random training crop; None: whole images.
        image_io: the model's contract (set by ``ppuhd.data.builder.build_dataset``): scale 1; the crop is
            rounded down to its ``size_multiple``.
        hflip: random horizontal flip.
        vflip: random vertical flip.
        rot90: random rotation by k * 90 degrees.
        repeat: the images are listed this many times per epoch.
        recursive: also list the images of subfolders (an ImageNet-layout folder for pre-training).
        max_images: keep the first this many images (sorted paths), e.g. EDT's first 200K of ImageNet.
    """

    def __init__(self, root: Optional[Roots] = None, sigma: float = 25.0, clip: bool = False,
                 eval_seeding: str = 'per_image', noise_seed: int = 0, crop_size: CropSize = None,
                 image_io: Optional[ImageIO] = None, hflip: bool = False, vflip: bool = False, rot90: bool = False,
                 repeat: int = 1, recursive: bool = False, max_images: Optional[int] = None):
        super().__init__()
        if sigma < 0:
            raise ValueError(f'sigma must be >= 0 (on the 0..255 scale), got {sigma}')
        if eval_seeding not in NOISE_SEEDING:
            raise ValueError(f'eval_seeding must be one of {NOISE_SEEDING}, got {eval_seeding!r}')
        self.image_io = _scale_one(image_io, 'DenoiseDataset')
        self.crop_hw = round_crop_size(crop_size, self.image_io.size_multiple) if crop_size is not None else None
        if repeat < 1:
            raise ValueError(f'repeat must be >= 1, got {repeat}')
        self.sigma, self.clip, self.eval_seeding, self.noise_seed = float(sigma), clip, eval_seeding, noise_seed
        self.hflip, self.vflip, self.rot90, self.repeat = hflip, vflip, rot90, repeat
        self.roots = _roots(root, 'DenoiseDataset')
        if recursive or max_images is not None:  # an ImageNet-layout folder (pre-training)
            self.paths = _image_paths(self.roots, recursive, max_images)
        else:
            self.paths = [p for r in self.roots for p in list_images(r)]
            if not self.paths:
                raise FileNotFoundError(f"No images in {self.roots} (looked for {', '.join(IMAGE_EXTENSIONS)})")
        self._stream = None
        if eval_seeding == 'edt':
            self._stream = self._edt_stream()

    def _edt_stream(self) -> SequentialNoiseStream:
        if len(self.roots) != 1:
            raise ValueError("eval_seeding 'edt' replays EDT's noise stream over ONE test folder; "
                             f'got {len(self.roots)} roots')
        others = [p for p in self.paths if os.path.splitext(p)[1] not in _EDT_EXTENSIONS]
        if others:
            raise ValueError(f"eval_seeding 'edt': EDT's test_sample.py skips files that are not "
                             f"{'/'.join(_EDT_EXTENSIONS)}, so its noise would go to other images; "
                             f'convert or remove: {_listed(others)}')
        # EDT sorts the plain file names; our paths share the folder, so the order is the same
        self.paths = sorted(self.paths, key=os.path.basename)
        shapes: Dict[int, Tuple[int, int, int]] = {}

        def shape(k: int) -> Tuple[int, int, int]:
            if k not in shapes:
                hw = read_image_size(self.paths[k])  # TIFF (McMaster) has no header size here: decode
                shapes[k] = (*hw, 3) if hw else read_image(self.paths[k]).shape
            return shapes[k]
        return SequentialNoiseStream(shape, self.sigma, seed=self.noise_seed, clip=self.clip)

    def __len__(self) -> int:
        return len(self.paths) * self.repeat

    def __getitem__(self, index: Union[int, Tuple[int, int]]) -> Dict[str, object]:
        index, seed = index if isinstance(index, (tuple, list)) else (index, None)
        k = int(index) % len(self.paths)
        clean = read_image(self.paths[k])
        name = os.path.splitext(os.path.basename(self.paths[k]))[0]
        if seed is None:  # evaluation: the image's fixed noise, on the whole image
            if self._stream is not None:
                noisy = self._stream.noisy(k, clean)
            else:
                noisy = add_gaussian_noise(clean, self.sigma, np.random.default_rng([self.noise_seed, k]),
                                           clip=self.clip)
        else:
            rng = np.random.default_rng(seed)
            if self.crop_hw is not None:
                clean = _random_crop(clean, self.crop_hw, rng, self.paths[k])
            (clean,) = random_flip_rot((clean,), rng, self.hflip, self.vflip, self.rot90)
            clean = np.ascontiguousarray(clean)
            noisy = add_gaussian_noise(clean, self.sigma, rng, clip=self.clip)
        return {'lq': np.ascontiguousarray(noisy.transpose(2, 0, 1)), 'gt': to_chw_float(clean), 'name': name}

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({len(self.paths)} images x{self.repeat}, sigma {self.sigma:g}, '
                f'clip {self.clip}, eval seeding {self.eval_seeding}, crop {self.crop_hw})')


def _scale_one(image_io: Optional[ImageIO], what: str) -> ImageIO:
    if image_io is not None and image_io.scale != 1:
        raise ValueError(f'{what} pairs images of one size, but the model is x{image_io.scale} (image_io.scale); '
                         'use a scale-1 (denoising/deraining) model')
    return image_io or ImageIO()


def _random_crop(img: np.ndarray, crop_hw: Tuple[int, int], rng: np.random.Generator, name: str) -> np.ndarray:
    (h, w), (ch, cw) = img.shape[:2], crop_hw
    if h < ch or w < cw:
        raise ValueError(f'Image {name} is {h}x{w}, smaller than the crop {ch}x{cw}; lower crop_size or drop it')
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return img[top:top + ch, left:left + cw]


# --- multi-task pre-training (IPT) ----------------------------------------------------------------------

_DEGRADATION = re.compile(r'^(?:sr_x(?P<scale>[234])|denoise_(?P<sigma>\d+(?:\.\d+)?)|(?P<rain>derain))$')


def parse_degradation(task: str) -> Tuple[str, float]:
    """``'sr_x3'`` -> ``('sr', 3)``, ``'denoise_50'`` -> ``('noise', 50.0)``, ``'derain'`` -> ``('rain', 0)``."""
    m = _DEGRADATION.match(task)
    if m is None:
        raise ValueError(f"MultiDegradationDataset task {task!r}: use sr_x2, sr_x3, sr_x4, denoise_<sigma> (e.g. "
                         "denoise_30) or derain")
    if m.group('scale'):
        return 'sr', int(m.group('scale'))
    return ('noise', float(m.group('sigma'))) if m.group('sigma') else ('rain', 0)


@DATASETS.register()
class MultiDegradationDataset(Dataset):
    """Clean images degraded on the fly for several restoration tasks at once (IPT's pre-training on ImageNet).

    Each sample holds, for every task ``t`` of ``tasks``, ``lq_<t>`` (``crop_size`` x ``crop_size``) and ``gt_<t>``
    (``scale`` x that for super-resolution, the same size otherwise), each from its own random crop of the image:
    ``sr_x{s}`` the MATLAB-bicubic x s downscale (exact window of the whole image's LR,
    :func:`~ppuhd.data.degradations.bicubic_downscale_patch`), ``denoise_<sigma>`` Gaussian noise of sigma on
    0..255 clamped to [0, 255] (IPT ``trainer.py``), ``derain`` synthetic rain streaks
    (:func:`~ppuhd.data.degradations.add_rain_streaks`). The training task then takes ONE task per batch from
    the batch's ``seed`` (the first sample's augmentation seed), as the official MindSpore pre-training does (its
    ImageNet dataset yields every degradation of a sample and the batch map picks one task per batch,
    research/cv/IPT/train.py). Making every task's pair costs ``len(tasks)`` degradations per sample for one used.

    Args:
        root: folder of clean images, or a list of folders.
        tasks: task names (``sr_x2``, ``sr_x3``, ``sr_x4``, ``denoise_<sigma>``, ``derain``), the model's.
        recursive: also take images in sub-folders (the ImageNet ``train/<class>/*.JPEG`` layout).
        max_images: keep the first N images in sorted path order.
        skip_smaller: drop images smaller than the largest HR patch (read from the headers) at construction.
        crop_size: side of the input patch (IPT: 48, its body's size).
        image_io: the model's contract (set by ``ppuhd.data.builder.build_dataset``); a fixed ``tile_size``
            must equal ``crop_size``.
        hflip: random horizontal flip (per task pair).
        vflip: random vertical flip.
        rot90: random rotation by k * 90 degrees.
        repeat: the images are listed this many times per epoch.
        cache: keep every decoded image in memory after its first read (small sets of large images).
    """

    def __init__(self, root: Optional[Roots] = None, tasks: Sequence[str] = ('sr_x2', 'sr_x3', 'sr_x4', 'derain',
                                                                          'denoise_30', 'denoise_50'),
                 recursive: bool = False, max_images: Optional[int] = None, skip_smaller: bool = False,
                 crop_size: int = 48, image_io: Optional[ImageIO] = None, hflip: bool = False, vflip: bool = False,
                 rot90: bool = False, repeat: int = 1, cache: bool = False):
        super().__init__()
        self.tasks = tuple(tasks)
        if not self.tasks:
            raise ValueError('MultiDegradationDataset needs at least one task')
        self.degradations = {t: parse_degradation(t) for t in self.tasks}
        if image_io is not None and image_io.tile_size is not None and image_io.tile_size != crop_size:
            raise ValueError(f'crop_size {crop_size}: the model takes {image_io.tile_size} x {image_io.tile_size} '
                             f'inputs only (image_io.tile_size); set crop_size: {image_io.tile_size}')
        if repeat < 1:
            raise ValueError(f'repeat must be >= 1, got {repeat}')
        self.crop, self.hflip, self.vflip, self.rot90, self.repeat = int(crop_size), hflip, vflip, rot90, repeat
        self._cache: Optional[Dict[str, np.ndarray]] = {} if cache else None
        self.roots = _roots(root, 'MultiDegradationDataset')
        self.paths = _image_paths(self.roots, recursive, max_images)
        self.skipped = 0
        if skip_smaller:  # the largest SR scale's HR patch, or the crop itself
            need = self.crop * max([s for kind, s in self.degradations.values() if kind == 'sr'], default=1)
            self.paths, self.skipped = _at_least(self.paths, (need, need))

    def __len__(self) -> int:
        return len(self.paths) * self.repeat

    def __getitem__(self, index: Union[int, Tuple[int, int]]) -> Dict[str, object]:
        index, seed = index if isinstance(index, (tuple, list)) else (index, None)
        path = self.paths[int(index) % len(self.paths)]
        img = self._read(path)
        rng = np.random.default_rng(seed)
        sample: Dict[str, object] = {'name': os.path.splitext(os.path.basename(path))[0],
                                     'seed': np.int64(rng.integers(0, 2 ** 31) if seed is None else seed)}
        for task, (kind, value) in self.degradations.items():
            if kind == 'sr':
                s, c = int(value), self.crop
                lr_h, lr_w = img.shape[0] // s, img.shape[1] // s
                if lr_h < c or lr_w < c:
                    raise ValueError(f'Image {path} is {img.shape[0]}x{img.shape[1]}, smaller than the x{s} HR patch '
                                     f'{c * s}x{c * s}; lower crop_size, set skip_smaller: true or drop the image')
                top, left = int(rng.integers(0, lr_h - c + 1)), int(rng.integers(0, lr_w - c + 1))
                lq, gt = bicubic_downscale_patch(img, s, top, left, (c, c))
            else:
                gt = _random_crop(img, (self.crop, self.crop), rng, path)
                lq = add_gaussian_noise(gt, value, rng, clip=True) if kind == 'noise' else add_rain_streaks(gt, rng)
            lq, gt = random_flip_rot((lq, gt), rng, self.hflip, self.vflip, self.rot90)
            sample[f'lq_{task}'], sample[f'gt_{task}'] = to_chw_float(lq), to_chw_float(gt)
        return sample

    def _read(self, path: str) -> np.ndarray:
        return cached_read(self._cache, path, read_image)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({len(self.paths)} images x{self.repeat}, tasks {list(self.tasks)}, '
                f'{self.skipped} smaller than the patch skipped, roots {self.roots}, crop {self.crop})')


# --- deraining ------------------------------------------------------------------------------------------

# (layout, rainy folder, clean folder) relative to the root, in search order; '.' = one folder for both.
DERAIN_LAYOUTS: Tuple[Tuple[str, str, str], ...] = (
    ('Rain100L/H (rain, norain)', 'rain', 'norain'),
    ('Rain100L/H (rainy, norain)', 'rainy', 'norain'),
    ('input/target', 'input', 'target'),
)
_RAIN_PREFIX = re.compile(r'^(no)?rain[-_]', flags=re.IGNORECASE)


def _rain_key(stem: str) -> str:
    """Pairing key: ``rain-001`` and ``norain-001`` -> ``001``; other names unchanged."""
    return _RAIN_PREFIX.sub('', stem)


@DATASETS.register()
class DerainDataset(PairedImageDataset):
    """Rainy / clean pairs: Rain100L and Rain100H (``rain/rain-001.png`` with ``norain/norain-001.png``).

    Also ``rainy/`` + ``norain/``, ``input/`` + ``target/`` (same names), and the one-folder training sets
    (RainTrainL/H: ``rain-1.png`` beside ``norain-1.png``). Names pair after removing the ``rain-`` /
    ``norain-`` prefix; the sample name is the clean file's stem.

    Args:
        root: dataset root (e.g. ``Rain100L``), holding one of ``DERAIN_LAYOUTS`` or both kinds of file.
        input_dir: rainy folder; with ``gt_dir`` it replaces ``root``.
        gt_dir: clean folder matching ``input_dir``.
        crop_size: side (int) or (h, w) of a paired random crop; None keeps whole images (evaluation).
        image_io: the model's contract (set by ``ppuhd.data.builder.build_dataset``): scale 1.
        hflip: random horizontal flip.
        vflip: random vertical flip.
        rot90: random rotation by k * 90 degrees.
        repeat: the pairs are listed this many times per epoch.
    """

    def __init__(self, root: Optional[str] = None, input_dir: Optional[str] = None, gt_dir: Optional[str] = None,
                 crop_size: CropSize = None, image_io: Optional[ImageIO] = None, hflip: bool = False,
                 vflip: bool = False, rot90: bool = False, repeat: int = 1):
        Dataset.__init__(self)
        self._setup_augment(crop_size, _scale_one(image_io, 'DerainDataset'), hflip, vflip, rot90, repeat, False)
        self.one_folder = False
        if input_dir is not None or gt_dir is not None:
            self.input_dir, self.gt_dir, self.layout = self._resolve_dirs(None, 'train', input_dir, gt_dir)
        else:
            self.input_dir, self.gt_dir, self.layout = self._find_layout(_roots(root, 'DerainDataset')[0])
        self.pairs = self._match_pairs()
        check_headers(self.pairs, 1)

    def _find_layout(self, root: str) -> Tuple[str, str, str]:
        found = [(os.path.join(root, a), os.path.join(root, b), name) for name, a, b in DERAIN_LAYOUTS
                 if os.path.isdir(os.path.join(root, a)) and os.path.isdir(os.path.join(root, b))]
        stems = [os.path.splitext(os.path.basename(p))[0].lower() for p in list_images(root)]
        has_rain = any(s.startswith('rain') and _RAIN_PREFIX.match(s) for s in stems)
        if has_rain and any(s.startswith('norain') for s in stems):
            found.append((root, root, 'one folder (rain-N, norain-N)'))
        if not found:
            searched = '\n'.join(f'  {name}: {a}/ + {b}/' for name, a, b in DERAIN_LAYOUTS)
            raise FileNotFoundError(f"No deraining layout under '{root}'. Layouts searched:\n{searched}\n"
                                    '  one folder: rain-N.png beside norain-N.png\n'
                                    'Or pass input_dir (rainy) and gt_dir (clean) explicitly.')
        if len(found) > 1:
            raise ValueError(f"Ambiguous deraining layout under '{root}': {[f[2] for f in found]} all match; "
                             'pass input_dir and gt_dir explicitly')
        self.one_folder = found[0][0] == found[0][1]
        return found[0]

    def _match_pairs(self) -> List[Tuple[str, str, str]]:
        if not self.one_folder:
            return match_pairs(self.input_dir, self.gt_dir, lq_key=_rain_key, gt_key=_rain_key)
        return _pair_one_folder(self.input_dir)


def _pair_one_folder(folder: str) -> List[Tuple[str, str, str]]:
    """RainTrainL/H: ``rain-N`` with ``norain-N`` in one folder (other files are an error)."""
    rain, clean, other = {}, {}, []
    for path in list_images(folder):
        stem = os.path.splitext(os.path.basename(path))[0]
        side = clean if stem.lower().startswith('norain') else rain if _RAIN_PREFIX.match(stem) else None
        if side is None:
            other.append(os.path.basename(path))
        else:
            side[_rain_key(stem)] = (path, stem)
    unpaired = sorted(rain.keys() ^ clean.keys())
    if other or unpaired:
        alone = [(rain.get(k) or clean.get(k))[1] for k in unpaired]
        raise ValueError(f"Unpaired images in '{folder}' (one-folder layout: rain-N beside norain-N): "
                         f'{len(unpaired)} without a partner [{_listed(alone)}], '
                         f'{len(other)} named otherwise [{_listed(other)}]')
    return [(rain[k][0], clean[k][0], clean[k][1]) for k in sorted(rain)]
