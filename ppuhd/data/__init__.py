"""Datasets, paired transforms, samplers and the built-in demo data; importing registers the datasets."""
from .demo import build_demo_dataset
from .paired import LAYOUTS, PairedImageDataset, find_split_dirs, match_pairs
from .samplers import ResumableBatchSampler

__all__ = ['LAYOUTS', 'PairedImageDataset', 'ResumableBatchSampler', 'build_demo_dataset', 'find_split_dirs',
           'match_pairs']
