"""Run a model exported by tools/export.py with Paddle Inference on an image or a folder.

    python deploy/python/infer.py --model-dir export/uhdfour --input photos/ --output enhanced/
    python deploy/python/infer.py --model-dir export/uhdfour --input a.png --output out/ --precision bf16 --threads 2
    python deploy/python/infer.py --model-dir export/deit_s --input photos/ --output out/ --topk 5   # -> out/topk.json
    # GPU + TensorRT: first record the shape ranges on sample inputs, then build the engines
    python deploy/python/infer.py --model-dir M --input samples/ --output o/ --device gpu --collect-shapes shapes.txt
    python deploy/python/infer.py --model-dir M --input photos/ --output o/ --device gpu --trt --trt-shape-file shapes.txt

A file that cannot be read or run is reported and the others continue; the exit status is 1 if any failed.
Outputs are ``<stem>.png`` (``<name>.png`` for inputs whose stems collide), never over an input; inputs are
turned upright by their EXIF orientation (ppuhd/utils/batch.py, ppuhd/utils/image_io.py).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

import numpy as np  # noqa: E402

from predictor import DeployError, Predictor, RunOptions  # noqa: E402
from ppuhd.utils import batch  # noqa: E402
from ppuhd.utils.fileio import atomic_write_text  # noqa: E402
from ppuhd.utils.image_io import read_image_native, write_image  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model-dir', required=True, help='folder written by tools/export.py')
    p.add_argument('--input', required=True, help='an image file or a folder of images')
    p.add_argument('--output', required=True, help='output folder (PNGs, or topk.json for classifiers)')
    p.add_argument('--device', default='cpu', help='cpu | gpu')
    p.add_argument('--backend', default='paddle', help='paddle | onnx (needs an export with --onnx)')
    p.add_argument('--threads', type=int, default=os.cpu_count() or 1, help='CPU math threads')
    p.add_argument('--no-onednn', dest='onednn', action='store_false', help='CPU: plain kernels instead of oneDNN')
    p.add_argument('--precision', default='fp32', help='fp32 | bf16 (CPU, oneDNN) | fp16 (GPU)')
    p.add_argument('--trt', action='store_true', help='GPU: TensorRT subgraphs (FFT etc. stay in Paddle)')
    p.add_argument('--trt-precision', default='fp32', help='fp32 | fp16')
    p.add_argument('--trt-shape-file', default=None, help='shape ranges recorded with --collect-shapes')
    p.add_argument('--trt-cache-dir', default=None, help='serialize TensorRT engines here and reuse them')
    p.add_argument('--min-subgraph-size', type=int, default=3, help='smallest op count given to TensorRT')
    p.add_argument('--collect-shapes', default=None, metavar='FILE', help='record shape ranges of this run')
    p.add_argument('--gpu-id', type=int, default=0)
    p.add_argument('--reuse-memory', action='store_true',
                   help='keep freed memory for the next tensors (glibc): faster on UHD images, higher peak memory')
    p.add_argument('--topk', type=int, default=5, help='classifiers: classes reported per image')
    return p.parse_args(argv)


def options(args) -> RunOptions:
    return RunOptions(device=args.device, backend=args.backend, threads=args.threads, onednn=args.onednn,
                      precision=args.precision, tensorrt=args.trt, trt_precision=args.trt_precision,
                      trt_shape_file=args.trt_shape_file, trt_cache_dir=args.trt_cache_dir,
                      min_subgraph_size=args.min_subgraph_size, collect_shapes=args.collect_shapes,
                      gpu_id=args.gpu_id, reuse_memory=args.reuse_memory)


def run_file(predictor: Predictor, src: str, dst: str, topk: int, results: dict) -> None:
    img = read_image_native(src, exif=True)
    if predictor.task == 'classification':
        results[os.path.basename(src)] = predictor.classify(img, topk)
        return
    out = predictor.enhance(img)
    np.clip(out, 0, 1, out=out)
    write_image(dst, out)


def main(argv=None) -> int:
    args = parse_args(argv)
    files = batch.collect_inputs(args.input)
    outputs = batch.plan_outputs(files, args.input, args.output)
    batch.prepare_output_dir(args.output)
    predictor = Predictor(args.model_dir, options(args))
    results = {}
    failures = batch.run_batch(files, lambda src: run_file(predictor, src, outputs[src], args.topk, results))
    if results:
        atomic_write_text(os.path.join(args.output, 'topk.json'), json.dumps(results, indent=2))
    return batch.report(len(files), failures, f'{{done}}/{{total}} images done, results in {args.output}')


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (DeployError, OSError, ValueError, ImportError) as error:
        print(f'error: {error}', file=sys.stderr)
        sys.exit(2)
