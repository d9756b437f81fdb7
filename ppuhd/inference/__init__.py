"""Whole-image and tiled inference shared by tools/ and deploy/: the image-to-image contract
(:class:`ImageIO`), the one padding rule, memory-bounded tiling with average or smooth blending."""
from .contract import PAD_MODES, ImageIO, image_io_of
from .padding import crop_to, pad_bottom_right, pad_image, pad_to_multiple, predict_padded, source_index
from .tiling import PRESETS, TilingConfig, count_tiles, make_tiling, paddle_tile_fn, tile_starts, tiled_predict

__all__ = ['ImageIO', 'PAD_MODES', 'image_io_of', 'pad_to_multiple', 'pad_bottom_right', 'pad_image', 'source_index',
           'crop_to', 'predict_padded', 'PRESETS', 'TilingConfig', 'count_tiles', 'make_tiling', 'paddle_tile_fn',
           'tile_starts', 'tiled_predict']
