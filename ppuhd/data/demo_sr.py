"""Built-in super-resolution demo data: the same offline photos as the low-light demo, as HR images.

The photos ship inside scikit-image and scikit-learn (``ppuhd.data.demo.load_photo``) and are split by
source photo exactly as the low-light demo (``TRAIN_PHOTOS`` / ``TEST_PHOTOS``), so no evaluation photo is
ever trained on. Layout (``SRSyntheticDataset`` reads ``train/HR``, ``SRPairedDataset`` the EDT layout of
``val``, which is also how ``../shared/data/SR/Set5`` is stored):

    <out>/train/HR/<photo>.png                  the training photos, whole (LR patches are made on the fly)
    <out>/val/HR/x{s}/<photo>.png               held-out photos, a long side of at most VAL_MAX_SIDE,
    <out>/val/LR/x{s}/<photo>x{s}.png           mod-cropped to 12, and their MATLAB-bicubic LR (x2, x3, x4)
    <out>/manifest.json                         recipe and sha256 of every file

Downscaling for the held-out views uses OpenCV's area filter (as the low-light demo); the LR images are
``ppuhd.data.degradations.bicubic_downscale``, the MATLAB bicubic of the SR benchmarks. Deterministic: no
random draw at all, so a rebuild is bit-identical.
"""
import os

import cv2
import numpy as np

from ..utils.image_io import write_image
from .degradations import bicubic_downscale, mod_crop
from .demo import TEST_PHOTOS, TRAIN_PHOTOS, build_once, load_photo, write_manifest

DEMO_SR_VERSION = 1  # bump whenever the recipe below changes
SCALES = (2, 3, 4)
VAL_MAX_SIDE = 384
_OWN_ENTRIES = {'train', 'val', 'manifest.json'}


def demo_sr_config() -> dict:
    return {'version': DEMO_SR_VERSION, 'train_photos': list(TRAIN_PHOTOS), 'val_photos': list(TEST_PHOTOS),
            'scales': list(SCALES), 'val_max_side': VAL_MAX_SIDE}


def val_view(img: np.ndarray) -> np.ndarray:
    """Area-downscale to a long side <= VAL_MAX_SIDE, then mod-crop to a multiple of every scale (12)."""
    scale = VAL_MAX_SIDE / max(img.shape[:2])
    if scale < 1:
        h, w = img.shape[:2]
        img = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return mod_crop(img, int(np.lcm.reduce(SCALES)))


def _write(folder: str, config: dict) -> dict:
    images = {'train': [], 'val': []}
    for photo in config['train_photos']:
        img = load_photo(photo)
        write_image(os.path.join(folder, 'train', 'HR', f'{photo}.png'), img)
        images['train'].append({'name': photo, 'size': list(img.shape[:2])})
    for photo in config['val_photos']:
        hr = val_view(load_photo(photo))
        for s in config['scales']:
            write_image(os.path.join(folder, 'val', 'HR', f'x{s}', f'{photo}.png'), hr)
            write_image(os.path.join(folder, 'val', 'LR', f'x{s}', f'{photo}x{s}.png'), bicubic_downscale(hr, s))
        images['val'].append({'name': photo, 'size': list(hr.shape[:2])})
    return write_manifest(folder, config, images)


def build_demo_sr_dataset(out_dir: str = 'data/demo_sr', force: bool = False) -> dict:
    """Build (or reuse) the SR demo data in ``out_dir``; returns the manifest."""
    return build_once(out_dir, demo_sr_config(), _write, _OWN_ENTRIES, force)
