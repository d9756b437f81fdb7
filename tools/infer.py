"""Run a trained model on an image or a folder of images; a bad file is reported and the rest continue.

    python tools/infer.py -c configs/uhdfour/uhdfour_demo.yml --weights best_model.pdparams \
        --input data/demo/testing_set/input --output output/enhanced [--side-by-side]
    python tools/infer.py -c configs/deit/deit_demo_student_none.yml --weights best_model.pdparams \
        --input photos/ --output output/classified --topk 5     # prints top-k, writes topk.json

Image-to-image models (enhancement, super-resolution, restoration) write ``<stem>.png`` (``<name>.png``
for inputs whose stems collide; ``--side-by-side`` puts the input, bicubic-upscaled for super-resolution,
left of the result). Classifiers print the top-k per image (class id, name, probability; names from
``deploy.class_names`` or the val set's class folders) and write them to ``<output>/topk.json``, as
deploy/python/infer.py. Inputs are turned upright by their EXIF orientation; see ppuhd/utils/batch.py for
the rules. Exit status 1 if any file failed.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

import numpy as np  # noqa: E402
import paddle  # noqa: E402
import paddle.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

from ppuhd.config import add_config_args, get_config  # noqa: E402
from ppuhd.data.cls_transforms import CLS_TRANSFORMS  # noqa: E402
from ppuhd.engine import build_task, setup_device  # noqa: E402
from ppuhd.inference.planes import bicubic_upscale  # noqa: E402
from ppuhd.metrics.classification import topk_entries  # noqa: E402
from ppuhd.tasks.classification import class_names, eval_transform  # noqa: E402
from ppuhd.utils import batch, cli  # noqa: E402
from ppuhd.utils.fileio import atomic_write_text  # noqa: E402
from ppuhd.utils.image_io import read_image, read_image_float, write_image  # noqa: E402


def restore_file(task, src: str, dst: str, side_by_side: bool) -> None:
    img = read_image_float(src, exif=True)
    x = img.transpose(2, 0, 1)[None].copy()
    pred = np.clip(task.predict({'lq': paddle.to_tensor(x)})['pred'][0].numpy().transpose(1, 2, 0), 0, 1)
    if side_by_side:  # the input at the output's size: itself, or its bicubic upscaling
        before = np.clip(bicubic_upscale(x, task.image_io.scale)[0].transpose(1, 2, 0), 0, 1)
        pred = np.concatenate([before, pred], axis=1)
    write_image(dst, pred)


class Classifier:
    """The task's model with the config's eval transform; top-k of softmax probabilities per image."""

    def __init__(self, task, cfg: dict, topk: int):
        self.model, self.topk, self.names = task.model, topk, class_names(cfg)
        self.transform = CLS_TRANSFORMS.build(eval_transform(cfg, task.model))
        self.results = {}

    def __call__(self, src: str) -> None:
        x = self.transform(Image.fromarray(read_image(src, exif=True)))
        with paddle.no_grad():
            probs = F.softmax(self.model(paddle.to_tensor(x[None])), axis=-1)[0].numpy()
        top = topk_entries(probs, self.topk, self.names)
        self.results[os.path.basename(src)] = top
        print(f"{os.path.basename(src)}:\tclass id(s): {[t['index'] for t in top]}, "
              f"score(s): {[round(t['score'], 4) for t in top]}, label_name(s): {[t['label'] for t in top]}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(parser)
    parser.add_argument('--weights', required=True, help='model weights (.pdparams)')
    parser.add_argument('--input', required=True, help='an image file or a folder of images')
    parser.add_argument('--output', required=True, help='folder for the result PNGs (or topk.json of classifiers)')
    parser.add_argument('--side-by-side', action='store_true', help='write input and output next to each other')
    parser.add_argument('--topk', type=int, default=5, help='classifiers: classes reported per image')
    args = parser.parse_args(argv)
    files = batch.collect_inputs(args.input)
    outputs = batch.plan_outputs(files, args.input, args.output)
    batch.prepare_output_dir(args.output)
    cfg = get_config(args.config, args.override + [f'model_weights={args.weights!r}'])
    setup_device(cfg.get('device', 'auto'), cfg.get('num_threads'))
    task = build_task(cfg, inference=True)
    task.eval()
    if task.DEPLOY_KIND == 'classification':
        classify = Classifier(task, cfg, args.topk)
        failures = batch.run_batch(files, classify)
        if classify.results:
            atomic_write_text(os.path.join(args.output, 'topk.json'), json.dumps(classify.results, indent=2))
        return batch.report(len(files), failures, f'{{done}}/{{total}} images classified, top-{args.topk} in '
                                                  f"{os.path.join(args.output, 'topk.json')}")
    failures = batch.run_batch(files, lambda src: restore_file(task, src, outputs[src], args.side_by_side))
    return batch.report(len(files), failures, f'{{done}}/{{total}} images written to {args.output}')


if __name__ == '__main__':
    cli.run(main)
