"""Throughput of single ops under Paddle Inference (CPU, oneDNN) at UHDFour's 4K LowNet shape.

Each op kind is exported as a chain of 10 identical ops on a [1, C, H, W] tensor (C=192, 270x480 =
UHDFour's first level at 4K) and run in a fresh process, with glibc's default allocator and with
``--reuse-memory`` (``deploy/python/predictor.py:keep_freed_memory``). It prints ms per op, GFLOP/s
(convs and matmuls) and GB/s of tensor traffic: the floor any UHDFour graph on this machine sits on.

    python benchmarks/op_throughput.py [--channels 192 --height 270 --width 480 --threads 2 --kinds conv3x3,add]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
KINDS = ('conv3x3', 'matmul', 'leaky_relu', 'add')


def _export(kind: str, channels: int, folder: str) -> str:
    import paddle

    class Chain(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.weight = paddle.create_parameter([channels, channels], 'float32')
            self.conv = paddle.nn.Conv2D(channels, channels, 3, padding=1)

        def forward(self, x):
            y = x
            for _ in range(10):
                if kind == 'conv3x3':
                    y = self.conv(y)
                elif kind == 'matmul':  # a 1x1 conv as UHDFour's exported graph runs it
                    y = paddle.matmul(self.weight, y.reshape([0, 0, -1])).reshape(paddle.shape(x))
                elif kind == 'leaky_relu':
                    y = paddle.nn.functional.leaky_relu(y, 0.1)
                else:
                    y = y + x
            return y

    path = os.path.join(folder, kind, 'inference')
    spec = [paddle.static.InputSpec([None, channels, None, None], 'float32')]
    paddle.jit.save(paddle.jit.to_static(Chain(), input_spec=spec, full_graph=True), path)
    return path


def _child(spec: dict) -> dict:
    sys.path.insert(0, os.path.join(ROOT, 'deploy', 'python'))
    import numpy as np
    from paddle import inference
    import predictor
    if spec['reuse']:
        predictor.keep_freed_memory()
    config = inference.Config(spec['path'] + '.json', spec['path'] + '.pdiparams')
    config.disable_gpu()
    config.set_cpu_math_library_num_threads(spec['threads'])
    config.enable_onednn()
    for name in predictor.ONEDNN_SKIPPED_PASSES:
        config.delete_pass(name)
    config.disable_glog_info()
    pred = inference.create_predictor(config)
    inp = pred.get_input_handle(pred.get_input_names()[0])
    out = pred.get_output_handle(pred.get_output_names()[0])
    x = np.random.default_rng(0).random((1, spec['channels'], spec['height'], spec['width']), dtype=np.float32)
    times = []
    for _ in range(3):  # the first run builds the oneDNN primitives
        start = time.perf_counter()
        inp.reshape(list(x.shape))
        inp.copy_from_cpu(x)
        pred.run()
        out.copy_to_cpu()
        times.append(time.perf_counter() - start)
    return {'ms_per_op': min(times[1:]) / 10 * 1e3}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--channels', type=int, default=192)
    p.add_argument('--height', type=int, default=270)
    p.add_argument('--width', type=int, default=480)
    p.add_argument('--threads', type=int, default=os.cpu_count() or 1)
    p.add_argument('--kinds', default=','.join(KINDS), help='ops to time: ' + ', '.join(KINDS))
    p.add_argument('--child', default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return 0
    c, h, w = args.channels, args.height, args.width
    kinds = [k for k in args.kinds.split(',') if k]
    if not kinds or any(k not in KINDS for k in kinds):
        print(f'op_throughput: --kinds takes {", ".join(KINDS)}, got {args.kinds!r}', file=sys.stderr)
        return 2
    tensor_mb = c * h * w * 4 / 2 ** 20
    print(f'[1, {c}, {h}, {w}] float32 ({tensor_mb:.3g} MB), Paddle Inference oneDNN, {args.threads} threads')
    print('| op | allocator | ms per op | GFLOP/s | GB/s |\n|---|---|---:|---:|---:|')
    with tempfile.TemporaryDirectory() as folder:
        for kind in kinds:
            path = _export(kind, c, folder)
            flops = 2 * c * c * h * w * (9 if kind == 'conv3x3' else 1) if kind in ('conv3x3', 'matmul') else 0
            traffic = (3 if kind == 'add' else 2) * tensor_mb * 2 ** 20 / 1e9  # bytes read + written
            for reuse in (False, True):
                spec = dict(kind=kind, path=path, reuse=reuse, channels=c, height=h, width=w, threads=args.threads)
                env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), GLOG_minloglevel='2')
                proc = subprocess.run([sys.executable, os.path.abspath(__file__), '--child', json.dumps(spec)],
                                      capture_output=True, text=True, env=env, check=True)
                ms = json.loads(proc.stdout.strip().splitlines()[-1])['ms_per_op']
                gflops = f'{flops / ms / 1e6:.0f}' if flops else ''
                print(f"| {kind} | {'reuse-memory' if reuse else 'glibc default'} | {ms:.4g} | {gflops} "
                      f'| {traffic / ms * 1e3:.1f} |', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
