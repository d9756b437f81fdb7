"""Building blocks shared by several models; each is written once here."""
from .shuffle import pixel_shuffle, pixel_unshuffle
from .fourier import amplitude_phase, polar_to_complex, rfft2

__all__ = ['pixel_shuffle', 'pixel_unshuffle', 'amplitude_phase', 'polar_to_complex', 'rfft2']
