"""Whole-image and tiled inference shared by tools/ and deploy/: padding to the model's size multiple,
memory-bounded tiling with average or smooth blending."""
from .padding import crop_to, pad_to_multiple, predict_padded
from .tiling import (PRESETS, TilingConfig, count_tiles, make_tiling, paddle_tile_fn, pad_image, tile_starts,
                     tiled_predict)

__all__ = ['pad_to_multiple', 'crop_to', 'predict_padded', 'PRESETS', 'TilingConfig', 'count_tiles',
           'make_tiling', 'paddle_tile_fn', 'pad_image', 'tile_starts', 'tiled_predict']
