"""Datasets, paired transforms, samplers and the built-in demo data; importing registers the datasets."""
from .demo import build_demo_dataset
from .paired import LAYOUTS, PairedImageDataset, find_split_dirs, match_pairs, strip_scale_suffix
from .restoration import (DenoiseDataset, DerainDataset, SRPairedDataset, SRSyntheticDataset, benchmark_data_dir,
                          find_sr_dirs)
from .samplers import ResumableBatchSampler
from .cls_transforms import CLS_TRANSFORMS, ClsEvalTransform, ClsTrainTransform
from .demo_cls import build_demo_cls_dataset
from .imagefolder import ImageFolderDataset, ListDataset
from .mixup import Mixup
from .multitask import MultiTaskDataset
from .randaugment import RandAugment, rand_augment_from_string

__all__ = ['LAYOUTS', 'PairedImageDataset', 'ResumableBatchSampler', 'build_demo_dataset', 'find_split_dirs',
           'match_pairs', 'strip_scale_suffix', 'DenoiseDataset', 'DerainDataset', 'SRPairedDataset',
           'SRSyntheticDataset', 'benchmark_data_dir', 'find_sr_dirs', 'CLS_TRANSFORMS', 'ClsEvalTransform',
           'ClsTrainTransform', 'ImageFolderDataset', 'ListDataset', 'Mixup', 'MultiTaskDataset', 'RandAugment', 'build_demo_cls_dataset',
           'rand_augment_from_string']
