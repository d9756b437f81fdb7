"""Building blocks shared by several models; each is written once here."""
from .shuffle import pixel_shuffle, pixel_unshuffle
from .dynamic import resize_bilinear, spatial_size
from .fourier import amplitude_phase, irfft2, polar_to_complex, rfft2
from .init import torch_default_init_

__all__ = ['pixel_shuffle', 'pixel_unshuffle', 'amplitude_phase', 'polar_to_complex', 'rfft2', 'irfft2',
           'spatial_size', 'resize_bilinear', 'torch_default_init_']
