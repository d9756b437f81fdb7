"""Built-in demo data: real photos darkened by a physical low-light camera model.

The photos ship inside scikit-image (``skimage.data``) and scikit-learn
(``sklearn.datasets.load_sample_image``), so the demo needs no download. They
are split by SOURCE PHOTO: ``TEST_PHOTOS`` (a cat, an indoor still life and a
flower close-up, three different scenes) never appear in training. The dataset
uses the UHD-LL layout, so ``PairedImageDataset(root=..., split=...)`` reads it:

    <out>/training_set/{input,gt}/<photo>_<k>.png   CROPS_PER_PHOTO crops per training photo
    <out>/testing_set/{input,gt}/<photo>.png        one image per held-out photo
    <out>/manifest.json                             recipe, per-image exposure, sha256 of every file

Training crops are square, ``CROP_SIDES`` pixels, cut after a log-uniform
downscale between "the crop spans the short side" and the original size, so
each photo contributes both wide views and full-resolution detail. Test images
are downscaled (area) so the long side is at most ``TEST_MAX_SIDE`` and then
centre-cropped to multiples of ``TEST_MULTIPLE``.

Low-light model (per image, ``rng = default_rng([seed, split, photo, crop])``):

1. sRGB -> linear with the exact IEC 61966-2-1 transfer:
   ``c / 12.92`` for ``c <= 0.04045``, else ``((c + 0.055) / 1.055) ** 2.4``.
2. Exposure: ``k ~ U(EXPOSURE_RANGE)`` (for the test images, stratified: the i-th of n
   held-out photos draws from the i-th of n equal slices of the range); the expected photo-electron count is
   ``linear * k * FULL_WELL`` (FULL_WELL electrons = a white pixel at normal exposure).
3. Shot noise: the count is Poisson-distributed (signal-dependent noise).
4. Read noise: additive Gaussian, ``READ_NOISE`` electrons (signal-independent).
5. Back to [0, 1] by dividing by FULL_WELL, clip, linear -> sRGB, round to 8 bit.

The ground truth is the original 8-bit photo. Everything is drawn from seeded
generators and written as PNG, so a rebuild with the same seed (and library
versions) is bit-identical; ``manifest.json`` records the sha256 of every file.

A build happens once: when ``manifest.json`` matches the requested recipe and
the files still match their hashes, ``build_demo_dataset`` returns at once.
Otherwise it builds into a hidden sibling folder and swaps it in with a
rename, so an interrupted build never leaves a half dataset that looks complete.
"""
import hashlib
import json
import logging
import os
import shutil
import tempfile
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..utils.image_io import write_image

DEMO_VERSION = 3  # bump whenever the recipe below changes, so existing demo folders are rebuilt
TRAIN_PHOTOS = ('astronaut', 'rocket', 'hubble_deep_field', 'immunohistochemistry', 'retina',
                'stereo_motorcycle', 'china',
                # grayscale photos (used as 3 equal channels): more scenes for the brightness prior
                'camera', 'moon', 'brick', 'grass', 'gravel')
TEST_PHOTOS = ('chelsea', 'coffee', 'flower')
CROPS_PER_PHOTO = 6
CROP_SIDES = (256, 320, 384)
# Test views stay near the demo's 128-pixel training crops: UHDFour's Fourier branches see
# spectra whose scale grows with the image size, and a 12-minute CPU run does not learn to
# bridge a 4x gap (at a 512 long side the demo model lost up to 6 dB on one held-out photo).
TEST_MAX_SIDE = 256
TEST_MULTIPLE = 16
EXPOSURE_RANGE = (0.05, 0.3)
FULL_WELL = 1000.0  # electrons at linear 1.0 and normal exposure: a small, high-ISO phone pixel
READ_NOISE = 2.0  # electrons, std of the Gaussian read noise

_SPLIT_DIRS = {'train': 'training_set', 'test': 'testing_set'}
_OWN_ENTRIES = {'training_set', 'testing_set', 'manifest.json'}
logger = logging.getLogger(__name__)


def demo_config(seed: int = 0) -> dict:
    """The recipe a demo folder is built from; a folder is reused only if its manifest has the same."""
    return {'version': DEMO_VERSION, 'seed': seed, 'train_photos': list(TRAIN_PHOTOS),
            'test_photos': list(TEST_PHOTOS), 'crops_per_photo': CROPS_PER_PHOTO, 'crop_sides': list(CROP_SIDES),
            'test_max_side': TEST_MAX_SIDE, 'test_multiple': TEST_MULTIPLE,
            'exposure_range': list(EXPOSURE_RANGE), 'full_well': FULL_WELL, 'read_noise': READ_NOISE}


def load_photo(name: str) -> np.ndarray:
    """A uint8 RGB HWC photo shipped with scikit-image or scikit-learn (no download)."""
    if name in ('china', 'flower'):
        from sklearn.datasets import load_sample_image
        return load_sample_image(f'{name}.jpg')
    import skimage.data
    img = getattr(skimage.data, name)()
    img = img[0] if name == 'stereo_motorcycle' else img  # (left, right, disparity): keep the left view
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img


# ---------------------------------------------------------------- low-light model
def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB decoding of values in [0, 1]."""
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB encoding of values in [0, 1]."""
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055)


def simulate_low_light(img: np.ndarray, exposure: float, rng: np.random.Generator,
                       full_well: float = FULL_WELL, read_noise: float = READ_NOISE) -> np.ndarray:
    """uint8 sRGB photo -> uint8 sRGB low-light capture (see the module docstring)."""
    electrons = srgb_to_linear(img / 255.0) * (exposure * full_well)
    noisy = rng.poisson(electrons) + rng.normal(0.0, read_noise, img.shape)
    linear = np.clip(noisy / full_well, 0.0, 1.0)
    return np.round(linear_to_srgb(linear) * 255.0).astype(np.uint8)


# ---------------------------------------------------------------- geometry
def _resize(img: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return img
    h, w = img.shape[:2]
    return cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def train_crop(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A square crop of side in CROP_SIDES, after a log-uniform downscale that keeps the crop inside."""
    side = int(rng.choice(CROP_SIDES))
    short = min(img.shape[:2])
    low = min(1.0, side / short)
    img = _resize(img, float(np.exp(rng.uniform(np.log(low), 0.0))))
    h, w = img.shape[:2]
    top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    return img[top:top + side, left:left + side]


def eval_view(img: np.ndarray) -> np.ndarray:
    """Downscale to a long side <= TEST_MAX_SIDE, then centre-crop H and W to multiples of TEST_MULTIPLE."""
    img = _resize(img, TEST_MAX_SIDE / max(img.shape[:2]))
    h, w = img.shape[:2]
    ch, cw = h // TEST_MULTIPLE * TEST_MULTIPLE, w // TEST_MULTIPLE * TEST_MULTIPLE
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[top:top + ch, left:left + cw]


# ---------------------------------------------------------------- building
def _exposure(rng: np.random.Generator, stratum: int = 0, n_strata: int = 1) -> float:
    """k ~ U(EXPOSURE_RANGE), or U(stratum-th of ``n_strata`` equal slices of it).

    The few test images are stratified so that the held-out set always spans
    dim to very dim, whatever the seed (three plain draws can all land high).
    """
    lo, hi = EXPOSURE_RANGE
    width = (hi - lo) / n_strata
    return float(rng.uniform(lo + stratum * width, lo + (stratum + 1) * width))


def _samples(seed: int):
    """Yield (split, name, source photo, gt image, rng, exposure) for every image, in a fixed order."""
    for split, photos in (('train', TRAIN_PHOTOS), ('test', TEST_PHOTOS)):
        for p, photo in enumerate(photos):
            img = load_photo(photo)
            if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
                raise ValueError(f'Demo photo {photo} is {img.dtype} {img.shape}, expected uint8 RGB')
            if split == 'test':
                rng = np.random.default_rng([seed, 1, p])
                yield split, photo, photo, eval_view(img), rng, _exposure(rng, p, len(photos))
                continue
            for c in range(CROPS_PER_PHOTO):
                rng = np.random.default_rng([seed, 0, p, c])
                crop = train_crop(img, rng)
                yield split, f'{photo}_{c:02d}', photo, crop, rng, _exposure(rng)


def _sha256(path: str) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _write_dataset(folder: str, config: dict) -> dict:
    """Write every pair and, last, the manifest into ``folder``."""
    images: Dict[str, List[dict]] = {'train': [], 'test': []}
    for split, name, photo, gt, rng, exposure in _samples(config['seed']):
        lq = simulate_low_light(gt, exposure, rng)
        for sub, img in (('input', lq), ('gt', gt)):
            write_image(os.path.join(folder, f'{_SPLIT_DIRS[split]}/{sub}/{name}.png'), img)
        images[split].append({'name': name, 'source': photo, 'exposure': round(exposure, 6),
                              'size': list(gt.shape[:2])})
    return write_manifest(folder, config, images)


def _valid_manifest(out_dir: str, config: dict) -> Tuple[Optional[dict], str]:
    """(manifest, '') when ``out_dir`` holds a complete build of ``config``, else (None, reason)."""
    path = os.path.join(out_dir, 'manifest.json')
    if not os.path.isfile(path):
        return None, 'no manifest.json (new folder or interrupted build)'
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as err:
        return None, f'unreadable manifest.json ({err})'
    if manifest.get('config') != config:
        return None, 'manifest.json was built with another recipe or seed'
    for rel, digest in manifest.get('files', {}).items():
        full = os.path.join(out_dir, rel)
        if not os.path.isfile(full) or _sha256(full) != digest:
            return None, f'{rel} is missing or modified'
    return manifest, ''


def _check_replaceable(out_dir: str, own_entries) -> None:
    """Refuse to delete a folder that holds anything but a previous demo build."""
    if os.path.exists(out_dir):
        foreign = sorted(set(os.listdir(out_dir)) - set(own_entries)) if os.path.isdir(out_dir) else [out_dir]
        if foreign:
            raise FileExistsError(f"'{out_dir}' exists and holds files that are not demo data ({foreign[:5]}); "
                                  'choose another output folder or empty it')


def _swap_in(tmp_dir: str, out_dir: str) -> None:
    """Replace ``out_dir`` by ``tmp_dir`` with renames (same parent folder, so each rename is atomic)."""
    old = None
    if os.path.exists(out_dir):
        old = tempfile.mkdtemp(prefix=f'.{os.path.basename(out_dir)}.old-', dir=os.path.dirname(tmp_dir))
        os.rename(out_dir, os.path.join(old, 'data'))
    os.rename(tmp_dir, out_dir)
    if old:
        shutil.rmtree(old)


def build_once(out_dir: str, config: dict, write, own_entries, force: bool = False) -> dict:
    """``write(folder, config) -> manifest`` into ``out_dir`` unless an identical build is already there.

    The folder is reused when its ``manifest.json`` has the same ``config`` and every file still has its
    sha256; otherwise it is built in a hidden sibling and renamed into place (an interrupted build never
    looks complete), refusing to replace a folder holding anything but ``own_entries``.
    """
    out_dir = os.path.abspath(out_dir)
    if not force:
        manifest, reason = _valid_manifest(out_dir, config)
        if manifest is not None:
            logger.info('Demo data in %s is complete and matches its recipe: skipping the build', out_dir)
            return manifest
        if os.path.exists(out_dir):
            logger.info('Rebuilding demo data in %s: %s', out_dir, reason)
    _check_replaceable(out_dir, own_entries)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix=f'.{os.path.basename(out_dir)}.building-', dir=parent)
    try:
        manifest = write(tmp_dir, config)
        _swap_in(tmp_dir, out_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return manifest


def write_manifest(folder: str, config: dict, images: dict) -> dict:
    """``manifest.json`` (the recipe, ``images``, the sha256 of every file below ``folder``), written last."""
    files = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            full = os.path.join(dirpath, name)
            files[os.path.relpath(full, folder).replace(os.sep, '/')] = _sha256(full)
    manifest = {'config': config, 'images': images, 'files': dict(sorted(files.items()))}
    with open(os.path.join(folder, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    return manifest


def build_demo_dataset(out_dir: str, seed: int = 0, force: bool = False) -> dict:
    """Build the demo dataset into ``out_dir`` unless an identical build is already there.

    Args:
        out_dir: dataset root (UHD-LL layout).
        seed: seed of the crops, exposures and noise.
        force: rebuild even if ``out_dir`` already holds a matching build.

    Returns:
        The manifest: ``config`` (the recipe), ``images`` (per split: name, source photo, exposure,
        size) and ``files`` (relative path -> sha256).
    """
    manifest = build_once(out_dir, demo_config(seed), _write_dataset, _OWN_ENTRIES, force)
    logger.info('Demo data in %s: %d train / %d test pairs', out_dir, len(manifest['images']['train']),
                len(manifest['images']['test']))
    return manifest
