"""Enhance an image or a folder of images; a bad file is reported and the rest continue.

    python tools/infer.py -c configs/uhdfour/uhdfour_demo.yml --weights best_model.pdparams \
        --input data/demo/testing_set/input --output output/enhanced [--side-by-side]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

import numpy as np  # noqa: E402
import paddle  # noqa: E402
from tqdm import tqdm  # noqa: E402

from ppuhd.config import add_config_args, get_config  # noqa: E402
from ppuhd.engine import build_task, setup_device  # noqa: E402
from ppuhd.utils import cli  # noqa: E402
from ppuhd.utils.image_io import list_images, read_image_float, write_image  # noqa: E402


def enhance_file(task, src: str, dst: str, side_by_side: bool) -> None:
    img = read_image_float(src)
    x = paddle.to_tensor(img.transpose(2, 0, 1)[None].copy())
    pred = np.clip(task.predict({'lq': x})['pred'][0].numpy().transpose(1, 2, 0), 0, 1)
    write_image(dst, np.concatenate([img, pred], axis=1) if side_by_side else pred)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(parser)
    parser.add_argument('--weights', required=True, help='model weights (.pdparams)')
    parser.add_argument('--input', required=True, help='an image file or a folder of images')
    parser.add_argument('--output', required=True, help='folder for the enhanced PNGs')
    parser.add_argument('--side-by-side', action='store_true', help='write input and output next to each other')
    args = parser.parse_args(argv)
    if not os.path.exists(args.input):
        raise FileNotFoundError(f'--input {args.input} does not exist')
    files = list_images(args.input) if os.path.isdir(args.input) else [args.input]
    if not files:
        raise FileNotFoundError(f'No images found in {args.input}')
    cfg = get_config(args.config, args.override + [f'model_weights={args.weights!r}'])
    setup_device(cfg.get('device', 'auto'), cfg.get('num_threads'))
    task = build_task(cfg, inference=True)
    task.eval()
    failures = []
    for src in tqdm(files, desc='infer', disable=len(files) == 1):
        dst = os.path.join(args.output, os.path.splitext(os.path.basename(src))[0] + '.png')
        try:
            enhance_file(task, src, dst, args.side_by_side)
        except (OSError, ValueError) as err:
            failures.append((src, err))
    print(f'{len(files) - len(failures)}/{len(files)} images written to {args.output}')
    for src, err in failures:
        print(f'FAILED {src}: {err}', file=sys.stderr)
    return 1 if failures else 0


if __name__ == '__main__':
    cli.run(main)
