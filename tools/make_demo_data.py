"""Build the built-in demo dataset (real offline photos + a physical low-light model), once.

    python tools/make_demo_data.py [--output data/demo] [--seed 0] [--force]

See ppuhd/data/demo.py for the recipe. A folder that already holds a matching build is left alone.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from ppuhd.data import PairedImageDataset, build_demo_dataset  # noqa: E402
from ppuhd.metrics import psnr  # noqa: E402
from ppuhd.utils import cli  # noqa: E402
from ppuhd.utils.logger import get_logger  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--output', default='data/demo', help='dataset root to create (UHD-LL layout)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the crops, exposures and noise')
    parser.add_argument('--force', action='store_true', help='rebuild even if a matching build exists')
    args = parser.parse_args(argv)
    get_logger()  # route the build's progress messages to the console
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


if __name__ == '__main__':
    cli.run(main)
