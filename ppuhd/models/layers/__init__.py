"""Building blocks shared by several models; each is written once here."""
from .activation import ConvLeakyReLU, leaky_relu_of_conv
from .shuffle import PixelShuffle, pixel_shuffle, pixel_unshuffle
from .dynamic import (downsample_bilinear, downsample_bilinear_inference, resize_bilinear, resize_bilinear_inference,
                      spatial_size, upsample_bilinear, upsample_bilinear_inference)
from .fourier import (amplitude_phase, irfft2, irfft2_inference, polar_to_complex, rfft2, rfft2_amplitude_phase,
                      rfft2_amplitude_phase_inference)
from .init import torch_default_init_
from .pointwise import PointwiseConv2D, PointwiseConv2DTranspose, pointwise_concat_matmul, pointwise_matmul

__all__ = ['ConvLeakyReLU', 'leaky_relu_of_conv', 'PixelShuffle', 'pixel_shuffle', 'pixel_unshuffle', 'amplitude_phase', 'polar_to_complex', 'rfft2', 'irfft2',
           'irfft2_inference', 'rfft2_amplitude_phase', 'rfft2_amplitude_phase_inference', 'spatial_size',
           'resize_bilinear', 'resize_bilinear_inference', 'downsample_bilinear', 'downsample_bilinear_inference',
           'upsample_bilinear', 'upsample_bilinear_inference', 'torch_default_init_', 'PointwiseConv2D',
           'PointwiseConv2DTranspose', 'pointwise_concat_matmul', 'pointwise_matmul']
from .attention import Attention
from .drop import DropPath, drop_path
from .helpers import to_2tuple
from .mlp import Mlp
from .patch_embed import PatchEmbed
from .pos_embed import antialias_bicubic_matrix, resample_pos_embed, resize_grid
from .weight_init import init_vit_weights_, trunc_normal_

__all__ += ['Attention', 'DropPath', 'drop_path', 'to_2tuple', 'Mlp', 'PatchEmbed', 'antialias_bicubic_matrix',
            'resample_pos_embed', 'resize_grid', 'init_vit_weights_', 'trunc_normal_']
