"""Evaluate trained weights on the config's validation set, beside the baseline (the unprocessed input;
for super-resolution its MATLAB-bicubic upscaling).

    python tools/eval.py -c configs/uhdfour/uhdfour_demo.yml --weights output/uhdfour_demo/best_model.pdparams
    python tools/eval.py -c configs/deit/deit_small_patch16_224.yml --weights deit_small.pdparams \
        -o data.val.root=/path/to/imagenet          # prints top1 / top5 / loss
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from ppuhd.config import add_config_args, get_config  # noqa: E402
from ppuhd.engine import build_dataset, build_task, evaluate, setup_device  # noqa: E402
from ppuhd.engine.evaluator import metric_config  # noqa: E402
from ppuhd.utils import cli, dist  # noqa: E402
from ppuhd.utils.fileio import atomic_write_text  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(parser)
    parser.add_argument('--weights', required=True, help='model weights (.pdparams)')
    parser.add_argument('--json', default=None, help='where to write the results (default <output_dir>/eval.json)')
    args = parser.parse_args(argv)
    cfg = get_config(args.config, args.override + [f'model_weights={args.weights!r}'])
    dist.init_distributed()
    setup_device(cfg.get('device', 'auto'), cfg.get('num_threads'))
    task = build_task(cfg, inference=True)
    dataset = build_dataset(cfg, 'val', task.model)
    per_image = {}
    metric_cfg = metric_config(cfg['eval'], task)
    metrics = evaluate(task, dataset, metric_cfg,
                       on_image=lambda name, arrays, values: per_image.update({name: values}),
                       batch_size=cfg['data'].get('eval_batch_size', cfg['data']['batch_size']))
    names = [n for n, kw in metric_cfg.items() if kw is not None]
    print(f"{'':10s}" + ''.join(f'{n:>10s}' for n in names))
    print(f"{'model':10s}" + ''.join(f'{metrics[n]:10.4f}' for n in names))
    baseline = getattr(task, 'baseline_name', None)  # image-to-image: the input itself, or its bicubic upscaling
    if baseline:
        print(f'{baseline:10s}' + ''.join(f"{metrics[f'{baseline}_{n}']:10.4f}" for n in names))
    out_path = args.json or os.path.join(cfg['output_dir'], 'eval.json')
    if dist.is_main_process():
        atomic_write_text(out_path, json.dumps({'weights': args.weights, 'images': len(dataset), 'mean': metrics,
                                                'per_image': per_image}, indent=2))
        print(f'wrote {out_path}')
    return 0


if __name__ == '__main__':
    cli.run(main)
