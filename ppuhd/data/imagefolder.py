"""Classification datasets: the ImageNet folder layout and PaddleClas-style list files.

Folder layout: ``<root>/<split>/<class>/*.<image>``; class index = position of the
folder name in the sorted list of class folders (as torchvision ``ImageFolder``).
List file: one ``<path> <label>`` per line, paths relative to ``root`` (PaddleClas).
Missing or empty folders, malformed lines and missing files fail at construction,
naming the path; an unreadable image fails when loaded, naming the path. Images are read
by the project's image gate (``ppuhd.utils.image_io``: pixel limit, formats, errors), 8-bit RGB
as stored (no EXIF rotation), then handed to the PIL transforms.

A sample is ``{'image': float32 CHW, 'label': int64, 'name': str}`` plus ``'seed'``
when the index carries an augmentation seed (``(index, seed)`` from the sampler).
"""
import os
from typing import List, Optional, Tuple, Union

import numpy as np
from paddle.io import Dataset
from PIL import Image

from ..registry import DATASETS
from ..utils.image_io import IMAGE_EXTENSIONS, read_image
from .cls_transforms import CLS_TRANSFORMS


class _ClassificationDataset(Dataset):
    """``samples`` of (path, label) read as RGB by the image gate and transformed by a ``CLS_TRANSFORMS`` config."""

    def __init__(self, samples: List[Tuple[str, int]], transform: dict, num_classes: int):
        self.samples, self.num_classes = samples, num_classes
        self.transform = CLS_TRANSFORMS.build(transform)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: Union[int, Tuple[int, int]]) -> dict:
        index, seed = index if isinstance(index, (tuple, list)) else (index, None)
        path, label = self.samples[index]
        img = Image.fromarray(read_image(path))
        sample = {'image': self.transform(img, np.random.default_rng(seed)), 'label': np.int64(label),
                  'name': os.path.basename(path)}
        if seed is not None:
            sample['seed'] = np.int64(seed)
        return sample


def _is_image(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def class_folders(folder: str) -> List[str]:
    """Sorted names of the class sub-folders of ``folder`` (class index = position, as torchvision)."""
    return sorted(e.name for e in os.scandir(folder) if e.is_dir())


def scan_image_folder(folder: str) -> Tuple[List[str], List[Tuple[str, int]]]:
    """(sorted class names, [(path, class index)]) of ``folder/<class>/*``."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Image folder '{folder}' does not exist; expected <root>/<split>/<class>/<images> "
                                '(ImageNet layout), or use ListDataset with a list file')
    classes = class_folders(folder)
    if not classes:
        raise FileNotFoundError(f"'{folder}' has no class sub-folders; expected {folder}/<class>/<images>")
    samples = []
    for idx, name in enumerate(classes):
        files = sorted(f for f in os.listdir(os.path.join(folder, name)) if _is_image(f))
        if not files:
            raise FileNotFoundError(f"Class folder '{os.path.join(folder, name)}' has no image "
                                    f"({', '.join(sorted(IMAGE_EXTENSIONS))}); remove it or add images")
        samples += [(os.path.join(folder, name, f), idx) for f in files]
    return classes, samples


@DATASETS.register()
class ImageFolderDataset(_ClassificationDataset):
    """``<root>/<split>/<class>/*`` (ImageNet layout).

    Args:
        root: dataset root.
        split: sub-folder ('train', 'val', ...).
        transform: ``{type: ClsTrainTransform | ClsEvalTransform, **kwargs}``.
    """

    def __init__(self, root: str = 'data/imagenet', split: str = 'train', transform: Optional[dict] = None):
        self.classes, samples = scan_image_folder(os.path.join(root, split))
        super().__init__(samples, transform or {'type': 'ClsEvalTransform'}, len(self.classes))


def parse_list_file(list_file: str, root: str) -> List[Tuple[str, int]]:
    """[(root/path, label)] of a ``path label`` list; errors name the file and line."""
    if not os.path.isfile(list_file):
        raise FileNotFoundError(f"List file '{list_file}' does not exist (one '<path> <label>' per line)")
    samples = []
    with open(list_file) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2 or not parts[1].lstrip('-').isdigit() or int(parts[1]) < 0:
                raise ValueError(f"{list_file}:{lineno}: expected '<path> <label>' with a label >= 0, "
                                 f'got {line.strip()!r}')
            path = os.path.join(root, parts[0].strip())
            if not os.path.isfile(path):
                raise FileNotFoundError(f'{list_file}:{lineno}: image {path} does not exist (paths are relative '
                                        f"to root '{root}')")
            samples.append((path, int(parts[1])))
    if not samples:
        raise ValueError(f"List file '{list_file}' has no sample")
    return samples


@DATASETS.register()
class ListDataset(_ClassificationDataset):
    """PaddleClas-style list file of ``<path> <label>`` lines.

    Args:
        root: folder the listed paths are relative to.
        list_file: the list.
        transform: ``{type: ClsTrainTransform | ClsEvalTransform, **kwargs}``.
        num_classes: class count (default: largest label + 1).
    """

    def __init__(self, root: str = '.', list_file: str = 'train_list.txt', transform: Optional[dict] = None,
                 num_classes: Optional[int] = None):
        samples = parse_list_file(list_file, root)
        top = max(label for _, label in samples)
        if num_classes is not None and top >= num_classes:
            raise ValueError(f'{list_file}: label {top} >= num_classes {num_classes}')
        super().__init__(samples, transform or {'type': 'ClsEvalTransform'}, num_classes or top + 1)
