"""DeiT's classification transforms (timm 0.3.2 ``create_transform``, which deit ``datasets.py`` calls).

Train: RandomResizedCrop (bicubic) -> hflip -> RandAugment, or ColorJitter when
auto-augment is off (timm skips color jitter whenever auto-augment is set, so
DeiT's ``--color-jitter 0.3`` has no effect) -> to float, normalize -> RandomErasing.
Eval: resize the short side to ``int(img_size / crop_pct)`` -> center crop -> normalize.
PIL does the resampling, as in timm/torchvision. Random draws come from a
``numpy.random.Generator`` given per sample (see ``ResumableBatchSampler``).
"""
import math
from typing import Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageEnhance

from ..registry import Registry
from .randaugment import _PIL_INTERP, rand_augment_from_string

CLS_TRANSFORMS = Registry('classification transform')
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def random_resized_crop_box(width: int, height: int, rng: np.random.Generator,
                            scale: Tuple[float, float] = (0.08, 1.0),
                            ratio: Tuple[float, float] = (3 / 4, 4 / 3)) -> Tuple[int, int, int, int]:
    """(top, left, h, w) as torchvision/timm ``RandomResizedCrop.get_params``: 10 tries, then a center crop."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = rng.uniform(*scale) * area
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if w <= width and h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def color_jitter(img: Image.Image, strength: float, rng: np.random.Generator) -> Image.Image:
    """torchvision ColorJitter(b=c=s=strength): factors U(max(0, 1-s), 1+s), applied in a random order."""
    enhancers = [ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color]
    for k in rng.permutation(3):
        img = enhancers[k](img).enhance(rng.uniform(max(0.0, 1 - strength), 1 + strength))
    return img


def random_erasing(x: np.ndarray, rng: np.random.Generator, prob: float = 0.25, min_area: float = 0.02,
                   max_area: float = 1 / 3, min_aspect: float = 0.3) -> np.ndarray:
    """timm RandomErasing, mode 'pixel', one box: per-pixel N(0, 1) noise on a normalised CHW image.

    With probability ``prob``: up to 10 tries of a box of area U(min_area, max_area) x H*W and
    log-uniform aspect in [min_aspect, 1/min_aspect]; the first that fits strictly is erased.
    """
    if rng.random() > prob:
        return x
    c, height, width = x.shape
    log_aspect = (math.log(min_aspect), math.log(1 / min_aspect))
    for _ in range(10):
        target_area = rng.uniform(min_area, max_area) * height * width
        aspect = math.exp(rng.uniform(*log_aspect))
        h = int(round(math.sqrt(target_area * aspect)))
        w = int(round(math.sqrt(target_area / aspect)))
        if w < width and h < height:
            top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
            x = x.copy()
            x[:, top:top + h, left:left + w] = rng.standard_normal((c, h, w)).astype(x.dtype)
            break
    return x


def to_normalized_chw(img: Image.Image, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """uint8 RGB -> float32 CHW, ``(x / 255 - mean) / std``."""
    x = np.asarray(img, dtype='float32') / 255.0
    return ((x - np.asarray(mean, 'float32')) / np.asarray(std, 'float32')).transpose(2, 0, 1).copy()


@CLS_TRANSFORMS.register()
class ClsTrainTransform:
    """DeiT's training transform.

    Args:
        img_size: output side.
        scale: RandomResizedCrop area range.
        ratio: RandomResizedCrop aspect range.
        interpolation: resampling of the crop and of RandAugment's affine ops.
        hflip: horizontal flip probability.
        auto_augment: timm RandAugment string (e.g. 'rand-m9-mstd0.5-inc1') or null.
        color_jitter: strength, used only when ``auto_augment`` is null (as timm).
        re_prob: RandomErasing probability (mode 'pixel').
        mean: normalisation mean (RGB, 0..1); RandAugment fills with ``round(255 * mean)``.
        std: normalisation std.
    """

    def __init__(self, img_size: int = 224, scale: Sequence[float] = (0.08, 1.0),
                 ratio: Sequence[float] = (3 / 4, 4 / 3), interpolation: str = 'bicubic', hflip: float = 0.5,
                 auto_augment: Optional[str] = 'rand-m9-mstd0.5-inc1', color_jitter: float = 0.4,
                 re_prob: float = 0.25, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        self.img_size, self.scale, self.ratio = img_size, tuple(scale), tuple(ratio)
        self.resample = _PIL_INTERP[interpolation]
        self.hflip, self.color_jitter, self.re_prob, self.mean, self.std = hflip, color_jitter, re_prob, mean, std
        fill = tuple(int(round(255 * m)) for m in mean)
        self.rand_augment = rand_augment_from_string(auto_augment, fill, interpolation) if auto_augment else None

    def __call__(self, img: Image.Image, rng: np.random.Generator) -> np.ndarray:
        top, left, h, w = random_resized_crop_box(img.width, img.height, rng, self.scale, self.ratio)
        # crop, then resize (torchvision resized_crop): the filter never reads pixels outside the crop
        img = img.crop((left, top, left + w, top + h)).resize((self.img_size, self.img_size), self.resample)
        if rng.random() < self.hflip:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        if self.rand_augment is not None:
            img = self.rand_augment(img, rng)
        elif self.color_jitter:
            img = color_jitter(img, self.color_jitter, rng)
        x = to_normalized_chw(img, self.mean, self.std)
        return random_erasing(x, rng, self.re_prob) if self.re_prob > 0 else x


@CLS_TRANSFORMS.register()
class ClsEvalTransform:
    """Resize the short side to ``int(img_size / crop_pct)``, center crop ``img_size``, normalise.

    Args:
        img_size: output side.
        crop_pct: 0.875 in DeiT (256 -> 224); 1.0 resizes straight to the crop.
        interpolation: resampling of the resize.
        mean: normalisation mean.
        std: normalisation std.
    """

    def __init__(self, img_size: int = 224, crop_pct: float = 0.875, interpolation: str = 'bicubic',
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        self.img_size, self.resize_to = img_size, int(img_size / crop_pct)
        self.interpolation, self.resample, self.mean, self.std = interpolation, _PIL_INTERP[interpolation], mean, std

    def paddleclas_ops(self) -> list:
        """This transform as PaddleClas deploy ``PreProcess.transform_ops`` (paddleclas/deploy/python/preprocess.py).

        The same resampling (PIL, same filter), short side and crop size; PaddleClas rounds the long side
        (``round``, torchvision truncates) and takes the crop offset with ``//`` (we ``round``), so on images
        whose long side or margin is fractional its input can differ from ours by a one-pixel shift or scale.
        """
        return [{'ResizeImage': {'resize_short': self.resize_to, 'interpolation': self.interpolation,
                                 'backend': 'pil'}},
                {'CropImage': {'size': self.img_size}},
                {'NormalizeImage': {'scale': 1.0 / 255.0, 'mean': [float(m) for m in self.mean],
                                    'std': [float(v) for v in self.std], 'order': '', 'channel_num': 3}},
                {'ToCHWImage': None}]

    def __call__(self, img: Image.Image, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        short, long_ = sorted((img.width, img.height))
        # torchvision Resize(int): the short side becomes resize_to, the long side int(resize_to * long / short)
        other = int(self.resize_to * long_ / short)
        size = (self.resize_to, other) if img.width <= img.height else (other, self.resize_to)
        img = img.resize(size, self.resample)
        top = int(round((img.height - self.img_size) / 2.0))
        left = int(round((img.width - self.img_size) / 2.0))
        img = img.crop((left, top, left + self.img_size, top + self.img_size))
        return to_normalized_chw(img, self.mean, self.std)
