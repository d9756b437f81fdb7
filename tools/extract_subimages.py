"""Pre-split large training images into sub-images, as LLFormer's scripts/extract_subimages_UHD.py and
BasicSR's scripts/data_preparation/extract_subimages.py (DIV2K) do.

    python tools/extract_subimages.py --input data/UHD-LOL4K/train/low --output data/UHD-LOL4K-sub/train/low
    python tools/extract_subimages.py --input data/UHD-LOL4K/train/high --output data/UHD-LOL4K-sub/train/high

Crops of --crop-size (H W, default 720 1280) every --step (default: the crop size, no overlap, as
the official script); where the grid leaves a border, one more crop flush with it is added
(official thresh_size 0). Sub-images are named ``<stem>_s001<ext>`` row by row and written with the
source's bit depth (PNG compression 1, as the official script). Run it again and images whose
sub-images all exist are skipped. Unreadable files are reported and skipped; the exit status is 1
if any was.

DIV2K (BasicSR's recipe: HR crops 480 every 240, LR crops 480/s every 240/s): give the HR numbers and
``--scale S`` for a low-resolution folder; its crops and step are divided by S and the ``xS`` of its names
dropped (``0001x2.png`` -> ``0001_s001.png``), so HR and LR sub-images pair by name:

    python tools/extract_subimages.py --input data/DIV2K/DIV2K_train_HR --output data/DIV2K/DIV2K_train_HR_sub \
        --crop-size 480 480 --step 240 240
    python tools/extract_subimages.py --input data/DIV2K/DIV2K_train_LR_bicubic/X2 \
        --output data/DIV2K/DIV2K_train_LR_bicubic/X2_sub --crop-size 480 480 --step 240 240 --scale 2

The border-flush crops pair when every HR side is S x its LR side (DIV2K and Flickr2K are).
"""
import argparse
import os
import sys
from typing import List

import cv2
import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from ppuhd.data.paired import strip_scale_suffix  # noqa: E402
from ppuhd.utils import cli  # noqa: E402
from ppuhd.utils.image_io import list_images, read_image_native  # noqa: E402


def crop_starts(size: int, crop: int, step: int) -> List[int]:
    """Official ``np.arange(0, size - crop + 1, step)`` plus a border-flush crop when a gap is left."""
    if size < crop:
        raise ValueError(f'image side {size} is smaller than the crop {crop}: lower --crop-size')
    starts = list(range(0, size - crop + 1, step))
    return starts + [size - crop] if starts[-1] + crop < size else starts


def _write(path: str, img: np.ndarray) -> None:
    """Write through a temporary name so an interrupted run never leaves a truncated sub-image."""
    root, ext = os.path.splitext(path)
    tmp = f'{root}.tmp{ext}'
    if not cv2.imwrite(tmp, img, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise OSError(f'could not write {path}')
    os.replace(tmp, path)


def split_image(path: str, out_dir: str, crop, step, scale: int = 1) -> bool:
    """Write the sub-images of ``path``; False when all of them already existed.

    ``scale`` > 1: ``path`` is a low-resolution image whose ``x<scale>`` name suffix is dropped.
    """
    img = np.ascontiguousarray(read_image_native(path)[:, :, ::-1])  # the image gate, then BGR for cv2.imwrite
    stem, ext = os.path.splitext(os.path.basename(path))
    if scale > 1:
        stem = strip_scale_suffix(scale)(stem)
    boxes = [(y, x) for y in crop_starts(img.shape[0], crop[0], step[0])
             for x in crop_starts(img.shape[1], crop[1], step[1])]
    targets = [os.path.join(out_dir, f'{stem}_s{i:03d}{ext}') for i in range(1, len(boxes) + 1)]
    if all(os.path.isfile(t) for t in targets):
        return False
    for (y, x), target in zip(boxes, targets):
        _write(target, np.ascontiguousarray(img[y:y + crop[0], x:x + crop[1]]))
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--input', required=True, help='folder of full-size images')
    parser.add_argument('--output', required=True, help='folder for the sub-images (created)')
    parser.add_argument('--crop-size', type=int, nargs=2, default=(720, 1280), metavar=('H', 'W'))
    parser.add_argument('--step', type=int, nargs=2, default=None, metavar=('H', 'W'),
                        help='distance between crops (default: the crop size)')
    parser.add_argument('--scale', type=int, default=1,
                        help='the input is low-resolution at this SR scale: --crop-size and --step are the HR '
                             'numbers, divided by it here, and the xS name suffix is dropped')
    args = parser.parse_args(argv)
    if not os.path.isdir(args.input):
        raise FileNotFoundError(f"--input folder '{args.input}' does not exist")
    step = args.step or args.crop_size
    if min(*args.crop_size, *step) < 1 or args.scale < 1:
        raise ValueError('--crop-size, --step and --scale must be positive')
    if any(v % args.scale for v in (*args.crop_size, *step)):
        raise ValueError(f'--crop-size {args.crop_size} and --step {step} must be multiples of --scale {args.scale}')
    crop = [v // args.scale for v in args.crop_size]
    step = [v // args.scale for v in step]
    os.makedirs(args.output, exist_ok=True)
    done = skipped = 0
    failed = []
    for path in tqdm(list_images(args.input), unit='image', desc='extract'):
        try:
            if split_image(path, args.output, crop, step, args.scale):
                done += 1
            else:
                skipped += 1
        except (OSError, ValueError) as err:
            failed.append(f'{os.path.basename(path)}: {err}')
    print(f'{done} images split, skipped {skipped} existing, {len(failed)} failed -> {args.output}')
    for line in failed:
        print(f'error: {line}', file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    cli.run(main)
