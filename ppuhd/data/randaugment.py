"""timm's RandAugment (``timm/data/auto_augment.py``, as used by DeiT: ``rand-m9-mstd0.5-inc1``).

Same ops, magnitude formulas, fill and interpolation as timm; the random draws
come from a ``numpy.random.Generator`` passed per image (timm uses the global
``random`` / ``np.random``), so augmentation is a pure function of the sample seed.

Per image: ``num_layers`` ops are drawn uniformly WITH replacement; each is applied
with probability 0.5; its magnitude is ``N(m, mstd)`` clipped to ``[0, 10]``; ops
with a signed argument negate it with probability 0.5.
"""
import math
import re
from typing import Callable, Dict, Sequence, Tuple

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

_LEVEL_DENOM = 10.0
_PIL_INTERP = {'bicubic': Image.BICUBIC, 'bilinear': Image.BILINEAR, 'nearest': Image.NEAREST}


def _affine(img: Image.Image, matrix: Tuple[float, ...], hp: dict) -> Image.Image:
    return img.transform(img.size, Image.AFFINE, matrix, resample=hp['resample'], fillcolor=hp['fill'])


def _solarize_add(img: Image.Image, add: int, thresh: int = 128) -> Image.Image:
    lut = [min(255, i + add) if i < thresh else i for i in range(256)]
    return img.point(lut * len(img.getbands()))


def _posterize(img: Image.Image, bits: int, hp: dict) -> Image.Image:
    """Keep the top ``bits`` bits. timm calls ImageOps.posterize, whose bits=0 (magnitude 10 of
    PosterizeIncreasing) gave a black image in the Pillow of its time; Pillow >= 11 rejects 0, so the lut is explicit."""
    if bits >= 8:
        return img
    mask = ~(2 ** (8 - max(bits, 0)) - 1) & 0xFF
    return img.point([i & mask for i in range(256)] * len(img.getbands()))


def _neg(value: float, rng: np.random.Generator) -> float:
    return -value if rng.random() > 0.5 else value


def _enhance_increasing(m, rng, hp):
    return 1.0 + _neg(m / _LEVEL_DENOM * 0.9, rng)


# op name -> (apply(img, arg, hparams), level_to_arg(magnitude, rng, hparams) or None)
OPS: Dict[str, Tuple[Callable, Callable]] = {
    'AutoContrast': (lambda img, a, hp: ImageOps.autocontrast(img), None),
    'Equalize': (lambda img, a, hp: ImageOps.equalize(img), None),
    'Invert': (lambda img, a, hp: ImageOps.invert(img), None),
    'Rotate': (lambda img, a, hp: img.rotate(a, resample=hp['resample'], fillcolor=hp['fill']),
               lambda m, rng, hp: _neg(m / _LEVEL_DENOM * 30.0, rng)),
    'PosterizeIncreasing': (_posterize, lambda m, rng, hp: 4 - int(m / _LEVEL_DENOM * 4)),
    'SolarizeIncreasing': (lambda img, a, hp: ImageOps.solarize(img, a),
                           lambda m, rng, hp: 256 - int(m / _LEVEL_DENOM * 256)),
    'SolarizeAdd': (lambda img, a, hp: _solarize_add(img, a), lambda m, rng, hp: int(m / _LEVEL_DENOM * 110)),
    'ColorIncreasing': (lambda img, a, hp: ImageEnhance.Color(img).enhance(a), _enhance_increasing),
    'ContrastIncreasing': (lambda img, a, hp: ImageEnhance.Contrast(img).enhance(a), _enhance_increasing),
    'BrightnessIncreasing': (lambda img, a, hp: ImageEnhance.Brightness(img).enhance(a), _enhance_increasing),
    'SharpnessIncreasing': (lambda img, a, hp: ImageEnhance.Sharpness(img).enhance(a), _enhance_increasing),
    'ShearX': (lambda img, a, hp: _affine(img, (1, a, 0, 0, 1, 0), hp),
               lambda m, rng, hp: _neg(m / _LEVEL_DENOM * 0.3, rng)),
    'ShearY': (lambda img, a, hp: _affine(img, (1, 0, 0, a, 1, 0), hp),
               lambda m, rng, hp: _neg(m / _LEVEL_DENOM * 0.3, rng)),
    # translate_pct 0.45 of the image size (timm's default hparams)
    'TranslateXRel': (lambda img, a, hp: _affine(img, (1, 0, a * img.size[0], 0, 1, 0), hp),
                      lambda m, rng, hp: _neg(m / _LEVEL_DENOM * 0.45, rng)),
    'TranslateYRel': (lambda img, a, hp: _affine(img, (1, 0, 0, 0, 1, a * img.size[1]), hp),
                      lambda m, rng, hp: _neg(m / _LEVEL_DENOM * 0.45, rng)),
}
# timm _RAND_INCREASING_TRANSFORMS (the 'inc1' list), in timm's order
INCREASING_OPS = ('AutoContrast', 'Equalize', 'Invert', 'Rotate', 'PosterizeIncreasing', 'SolarizeIncreasing',
                  'SolarizeAdd', 'ColorIncreasing', 'ContrastIncreasing', 'BrightnessIncreasing',
                  'SharpnessIncreasing', 'ShearX', 'ShearY', 'TranslateXRel', 'TranslateYRel')


class RandAugment:
    """Apply ``num_layers`` random ops per image.

    Args:
        ops: op names (keys of ``OPS``).
        num_layers: ops per image (timm ``n``).
        magnitude: mean magnitude (timm ``m``), on a 0..10 scale.
        magnitude_std: std of the per-op magnitude noise (``mstd``); ``inf`` means uniform in [0, m].
        prob: probability of applying each drawn op.
        fill: RGB fill of the pixels that affine ops uncover (timm: the dataset mean in 0..255).
        interpolation: resampling of the affine ops ('bicubic' in DeiT).
    """

    def __init__(self, ops: Sequence[str] = INCREASING_OPS, num_layers: int = 2, magnitude: float = 9.0,
                 magnitude_std: float = 0.5, prob: float = 0.5, fill: Tuple[int, int, int] = (124, 116, 104),
                 interpolation: str = 'bicubic'):
        unknown = [o for o in ops if o not in OPS]
        if unknown:
            raise KeyError(f'Unknown RandAugment ops {unknown}; known: {sorted(OPS)}')
        self.ops, self.num_layers, self.magnitude = list(ops), num_layers, magnitude
        self.magnitude_std, self.prob = magnitude_std, prob
        self.hparams = {'fill': tuple(fill), 'resample': _PIL_INTERP[interpolation]}

    def sample_magnitude(self, rng: np.random.Generator) -> float:
        m = self.magnitude
        if self.magnitude_std == math.inf:
            m = rng.uniform(0, m)
        elif self.magnitude_std > 0:
            m = rng.normal(m, self.magnitude_std)
        return max(0.0, min(m, _LEVEL_DENOM))

    def __call__(self, img: Image.Image, rng: np.random.Generator) -> Image.Image:
        for name in rng.choice(self.ops, self.num_layers, replace=True):
            if self.prob < 1.0 and rng.random() > self.prob:
                continue
            apply, level = OPS[name]
            arg = level(self.sample_magnitude(rng), rng, self.hparams) if level else None
            img = apply(img, arg, self.hparams)
        return img


def rand_augment_from_string(spec: str, fill: Tuple[int, int, int] = (124, 116, 104),
                             interpolation: str = 'bicubic') -> RandAugment:
    """Parse timm's ``rand-m9-mstd0.5-inc1`` (keys m, n, mstd, inc)."""
    parts = spec.split('-')
    if parts[0] != 'rand':
        raise ValueError(f"auto_augment '{spec}': only RandAugment ('rand-...') is supported")
    kw = {'magnitude': 10.0, 'num_layers': 2, 'magnitude_std': 0.0}  # timm's defaults
    increasing = False
    for part in parts[1:]:
        key, value = re.match(r'([a-z]+)([\d.]+|inf)$', part).groups()
        if key == 'm':
            kw['magnitude'] = float(value)
        elif key == 'n':
            kw['num_layers'] = int(value)
        elif key == 'mstd':
            kw['magnitude_std'] = float(value)
        elif key == 'inc':
            increasing = bool(int(value))
        else:
            raise ValueError(f"auto_augment '{spec}': unknown key '{key}' (known: m, n, mstd, inc)")
    if not increasing:
        raise ValueError(f"auto_augment '{spec}': only the increasing op list (inc1, as DeiT) is implemented")
    return RandAugment(INCREASING_OPS, fill=fill, interpolation=interpolation, **kw)
