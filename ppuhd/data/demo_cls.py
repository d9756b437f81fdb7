"""Built-in classification demo data: patches of the photos and textures shipped with scikit-image.

Each source image is a class (``CLASSES``). Training patches are cut from the left
``TRAIN_FRACTION`` of the image's width, validation patches from the right
``VAL_FRACTION``; the strip in between is unused, so no pixel is in both splits.
A patch is a random square of side log-uniform in ``SIDE_RANGE`` x the image's short
side (capped by the region), resized (box filter) to ``PATCH_SIZE`` pixels. Grayscale
textures are stored as 3 equal channels. Layout: ``<out>/{train,val}/<class>/<k>.png``
(ImageFolderDataset) plus ``manifest.json`` (the recipe). Everything comes from
``default_rng([seed, class, split])``; a folder whose manifest matches the recipe is
reused, otherwise it is built in a hidden sibling and renamed into place.
"""
import json
import logging
import os
import shutil
import tempfile

import numpy as np
from PIL import Image

from .demo import load_photo

DEMO_CLS_VERSION = 1  # bump whenever the recipe changes
CLASSES = ('astronaut', 'brick', 'chelsea', 'coffee', 'grass', 'gravel', 'hubble_deep_field',
           'immunohistochemistry', 'retina', 'rocket')
PATCHES = {'train': 100, 'val': 30}
TRAIN_FRACTION, VAL_FRACTION = 0.7, 0.25
SIDE_RANGE = (0.15, 0.45)
PATCH_SIZE = 72
logger = logging.getLogger(__name__)


def demo_cls_config(seed: int = 0) -> dict:
    return {'version': DEMO_CLS_VERSION, 'seed': seed, 'classes': list(CLASSES), 'patches': PATCHES,
            'train_fraction': TRAIN_FRACTION, 'val_fraction': VAL_FRACTION, 'side_range': list(SIDE_RANGE),
            'patch_size': PATCH_SIZE}


def _region(width: int, split: str):
    """Column range [x0, x1) of ``split``."""
    return (0, int(width * TRAIN_FRACTION)) if split == 'train' else (int(width * (1 - VAL_FRACTION)), width)


def cut_patches(photo: np.ndarray, split: str, count: int, rng: np.random.Generator) -> list:
    """``count`` PIL patches of ``photo`` (HWC uint8) from ``split``'s columns."""
    height, width = photo.shape[:2]
    x0, x1 = _region(width, split)
    short = min(height, width)
    top_side = min(SIDE_RANGE[1] * short, x1 - x0, height)
    patches = []
    for _ in range(count):
        side = int(np.exp(rng.uniform(np.log(SIDE_RANGE[0] * short), np.log(top_side))))
        top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(x0, x1 - side + 1))
        crop = Image.fromarray(photo[top:top + side, left:left + side])
        patches.append(crop.resize((PATCH_SIZE, PATCH_SIZE), Image.BOX))
    return patches


def _write(root: str, seed: int) -> None:
    for c, name in enumerate(CLASSES):
        photo = load_photo(name)[..., :3]
        for s, (split, count) in enumerate(PATCHES.items()):
            folder = os.path.join(root, split, name)
            os.makedirs(folder)
            for k, patch in enumerate(cut_patches(photo, split, count, np.random.default_rng([seed, c, s]))):
                patch.save(os.path.join(folder, f'{k:03d}.png'))


def build_demo_cls_dataset(out: str = 'data/demo_cls', seed: int = 0, force: bool = False) -> dict:
    """Build (or reuse) the dataset in ``out``; returns the manifest."""
    config = demo_cls_config(seed)
    manifest_path = os.path.join(out, 'manifest.json')
    if not force and os.path.isfile(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        if manifest.get('config') == config:
            logger.info('%s already holds this demo build; left alone (--force rebuilds)', out)
            return manifest
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.demo_cls_', dir=parent)
    try:
        _write(tmp, seed)
        manifest = {'config': config, 'counts': {s: {c: n for c in CLASSES} for s, n in PATCHES.items()}}
        with open(os.path.join(tmp, 'manifest.json'), 'w') as f:
            json.dump(manifest, f, indent=2)
        if os.path.isdir(out):
            shutil.rmtree(out)
        os.rename(tmp, out)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
    logger.info('built %s: %d classes, %s patches per class', out, len(CLASSES), PATCHES)
    return manifest
