"""Building blocks shared by several models; each is written once here."""
from .shuffle import pixel_shuffle, pixel_unshuffle
from .fourier import amplitude_phase, polar_to_complex, rfft2
from .init import torch_default_init_

__all__ = ['pixel_shuffle', 'pixel_unshuffle', 'amplitude_phase', 'polar_to_complex', 'rfft2',
           'torch_default_init_']
