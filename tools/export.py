"""Export a trained model to Paddle Inference (inference.json + inference.pdiparams + infer_cfg.yml).

    python tools/export.py -c configs/uhdfour/uhdfour_uhdll.yml --weights uhdfour_uhdll.pdparams --output export/uhdfour
    python tools/export.py -c CFG --weights W --output DIR --softmax --onnx   # classifier with probabilities, + ONNX

Image-to-image models take any batch, height and width (output at the model's scale); classifiers any batch
at the eval transform's size.
Run the result with deploy/python/infer.py; see docs/deploy.md.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from ppuhd.config import add_config_args, get_config  # noqa: E402
from ppuhd.engine import setup_device  # noqa: E402
from ppuhd.engine.export import export_model  # noqa: E402
from ppuhd.utils import cli  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(parser)
    parser.add_argument('--weights', required=True, help='model weights (.pdparams)')
    parser.add_argument('--output', required=True, help='output folder')
    parser.add_argument('--softmax', action='store_true', help='classifiers: output probabilities, not logits')
    parser.add_argument('--onnx', action='store_true', help='also write model.onnx (needs paddle2onnx)')
    args = parser.parse_args(argv)
    cfg = get_config(args.config, args.override)
    setup_device('cpu', cfg.get('num_threads'))
    options = {'softmax': True} if args.softmax else {}  # the task's export options (Task.EXPORT_OPTIONS)
    infer_cfg = export_model(cfg, args.weights, args.output, onnx=args.onnx, **options)
    files = sorted(os.listdir(args.output))
    print(f"exported {infer_cfg['model']} ({infer_cfg['task']}) to {args.output}: {', '.join(files)}")
    note = infer_cfg['paddle_inference']
    print(f"Paddle Inference: {note['default_config']}; {note['note']}")
    return 0


if __name__ == '__main__':
    cli.run(main)
