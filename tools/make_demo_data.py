"""Build the built-in demo dataset (real offline photos + a physical low-light model), once.

    python tools/make_demo_data.py [--output data/demo] [--seed 0] [--force]
    python tools/make_demo_data.py --task classification [--output data/demo_cls]
    python tools/make_demo_data.py --task sr [--output data/demo_sr]

See ppuhd/data/demo.py (enhancement), ppuhd/data/demo_cls.py (classification) and ppuhd/data/demo_sr.py
(super-resolution) for the recipes.
A folder that already holds a matching build is left alone.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from ppuhd.data import (ImageFolderDataset, PairedImageDataset, build_demo_cls_dataset,  # noqa: E402
                        build_demo_dataset)
from ppuhd.data.demo_sr import SCALES, build_demo_sr_dataset  # noqa: E402
from ppuhd.metrics import psnr  # noqa: E402
from ppuhd.utils import cli  # noqa: E402
from ppuhd.utils.logger import get_logger  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--task', choices=('enhancement', 'classification', 'sr'), default='enhancement',
                        help='which demo dataset to build')
    parser.add_argument('--output', default=None,
                        help='dataset root to create (default: data/demo, UHD-LL layout; data/demo_cls for '
                             'classification; data/demo_sr for super-resolution)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the crops, exposures and noise')
    parser.add_argument('--force', action='store_true', help='rebuild even if a matching build exists')
    args = parser.parse_args(argv)
    get_logger()  # route the build's progress messages to the console
    if args.task == 'classification':
        return make_classification(args.output or 'data/demo_cls', args.seed, args.force)
    if args.task == 'sr':
        return make_sr(args.output or 'data/demo_sr', args.force)
    args.output = args.output or 'data/demo'
    manifest = build_demo_dataset(args.output, seed=args.seed, force=args.force)
    test_set = PairedImageDataset(root=args.output, split='test')
    # PSNR of the unprocessed input: the floor a trained model must beat.
    scores = [psnr(s['lq'].transpose(1, 2, 0), s['gt'].transpose(1, 2, 0), data_range=1.0)
              for s in (test_set[i] for i in range(len(test_set)))]
    images = manifest['images']
    print(f"{args.output}: {len(images['train'])} train pairs from {len(manifest['config']['train_photos'])} photos, "
          f"{len(images['test'])} test pairs (held-out photos: {', '.join(manifest['config']['test_photos'])})")
    print(f'input vs gt on the test split: mean PSNR {np.mean(scores):.2f} dB')
    return 0


def make_classification(output: str, seed: int, force: bool) -> int:
    manifest = build_demo_cls_dataset(output, seed=seed, force=force)
    sizes = {split: len(ImageFolderDataset(root=output, split=split)) for split in ('train', 'val')}
    print(f"{output}: {len(manifest['config']['classes'])} classes, {sizes['train']} train / {sizes['val']} val "
          'patches (train and val from disjoint regions of each source image)')
    return 0


def make_sr(output: str, force: bool) -> int:
    manifest = build_demo_sr_dataset(output, force=force)
    images = manifest['images']
    print(f"{output}: {len(images['train'])} HR training photos (LR patches made on the fly), "
          f"{len(images['val'])} held-out photos with MATLAB-bicubic LR at x{', x'.join(map(str, SCALES))} "
          f"({', '.join(i['name'] for i in images['val'])})")
    return 0


if __name__ == '__main__':
    cli.run(main)
