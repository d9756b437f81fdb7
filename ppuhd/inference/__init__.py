"""Whole-image inference shared by tools/ and deploy/: padding to the model's size multiple."""
from .padding import crop_to, pad_to_multiple, predict_padded

__all__ = ['pad_to_multiple', 'crop_to', 'predict_padded']
