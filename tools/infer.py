"""Enhance an image or a folder of images; a bad file is reported and the rest continue.

    python tools/infer.py -c configs/uhdfour/uhdfour_demo.yml --weights best_model.pdparams \
        --input data/demo/testing_set/input --output output/enhanced [--side-by-side]

Outputs are ``<stem>.png`` (``<name>.png`` for inputs whose stems collide); inputs are turned upright
by their EXIF orientation; see ppuhd/utils/batch.py for the rules. Exit status 1 if any file failed.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

import numpy as np  # noqa: E402
import paddle  # noqa: E402

from ppuhd.config import add_config_args, get_config  # noqa: E402
from ppuhd.engine import build_task, setup_device  # noqa: E402
from ppuhd.utils import batch, cli  # noqa: E402
from ppuhd.utils.image_io import read_image_float, write_image  # noqa: E402


def enhance_file(task, src: str, dst: str, side_by_side: bool) -> None:
    img = read_image_float(src, exif=True)
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
    files = batch.collect_inputs(args.input)
    outputs = batch.plan_outputs(files, args.input, args.output)
    batch.prepare_output_dir(args.output)
    cfg = get_config(args.config, args.override + [f'model_weights={args.weights!r}'])
    setup_device(cfg.get('device', 'auto'), cfg.get('num_threads'))
    task = build_task(cfg, inference=True)
    task.eval()
    failures = batch.run_batch(files, lambda src: enhance_file(task, src, outputs[src], args.side_by_side))
    return batch.report(len(files), failures, f'{{done}}/{{total}} images written to {args.output}')


if __name__ == '__main__':
    cli.run(main)
