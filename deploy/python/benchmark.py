"""Latency, throughput and peak memory of dygraph, Paddle Inference (fp32 / bf16) and ONNX Runtime.

    python deploy/python/benchmark.py                          # UHDFour at 512^2, 1080p and 4K
    python deploy/python/benchmark.py --cases uhdfour@512 --backends infer_fp32,infer_bf16 --repeats 5
    python deploy/python/benchmark.py --peer /path/to/UHDFour_code  # + the official PyTorch model, same input
    python deploy/python/benchmark.py --cases espcn_x3@360x640,edt_t_sr_x2@256,edt_b_sr_x2@128 \
        --peer /path/to/ESPCN-pytorch --peer /path/to/EDT      # super-resolution; sizes are the LR input

Every case runs in a fresh subprocess, so its peak RSS (``VmHWM``) is its own. Weights are random
(speed and memory do not depend on them). Results: a table on stdout, JSON and markdown files.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _whole_image(name: str) -> dict:
    """A released image-to-image configuration on whole images (no tiling), random weights."""
    return {'model': {'type': name}, 'model_weights': None,
            'task': {'type': 'EnhancementTask', 'losses': [], 'tiling': None}}


# image-to-image models: training config (a path, or a dict); classifiers: registered name (exported without a Task)
MODELS = {
    'uhdfour': 'configs/uhdfour/uhdfour_uhdll.yml',
    # a whole 1080p image would need tens of GB (FACTS): tiled, with tiles smaller than the official 720x1280
    'llformer_tiled': {'model': {'type': 'llformer'}, 'model_weights': None,
                       'task': {'type': 'EnhancementTask', 'losses': [],
                                'tiling': {'tile': [256, 256], 'overlap': [32, 32], 'blend': 'cosine'}}},
    # super-resolution (sizes are the LR input; ESPCN runs on the Y plane: 360x640 in, a 1080p frame out)
    'espcn_x3': _whole_image('espcn_x3'),
    'edt_t_sr_x2': _whole_image('edt_t_sr_x2'),
    'edt_b_sr_x2': _whole_image('edt_b_sr_x2'),
}
CLASSIFIERS = {'deit_s': 'deit_small_patch16_224'}
SIZES = {'64': (64, 64), '128': (128, 128), '256': (256, 256), '512': (512, 512), '360x640': (360, 640),
         '540x960': (540, 960), '1080p': (1080, 1920), '4k': (2160, 3840), 'b1': 1, 'b8': 8, 'b32': 32}
DEFAULT_CASES = ['uhdfour@512', 'uhdfour@1080p', 'uhdfour@4k', 'deit_s@b1', 'deit_s@b8', 'deit_s@b32',
                 'llformer_tiled@1080p']
# infer_reuse: infer_fp32 with --reuse-memory (freed memory kept by glibc malloc: faster, higher peak)
# infer_plain: Paddle Inference fp32 without oneDNN (plain kernels; much lower peak memory on Paddle 3.3.1)
# infer_default: Paddle Inference with its default settings, as a user's own Config (oneDNN on, no pass deleted)
# peer / peer_reuse: the official PyTorch code (--peer), with glibc's default allocator / with --reuse-memory's
BACKENDS = ('dygraph', 'infer_fp32', 'infer_reuse', 'infer_bf16', 'infer_plain', 'infer_default', 'onnx', 'peer',
            'peer_reuse')
PEERS = ('peer', 'peer_reuse')
# model -> (a file only its official checkout has, the official configuration); --peer may name several checkouts
PEER_CODE = {
    'uhdfour': ('src/EnhanceN_arch.py', None),        # Li-Chongyi/UHDFour_code, InteractNet
    'espcn_x3': ('models.py', 3),                     # yjn870/ESPCN-pytorch, ESPCN(scale_factor=3)
    'edt_t_sr_x2': ('utils/modules/edt.py', 'SRx2_EDTT_Div2kFlickr2K'),  # fenglinglwb/EDT configs/<name>.py
    'edt_b_sr_x2': ('utils/modules/edt.py', 'SRx2_EDTB_Div2kFlickr2K'),
}


def _input(spec: dict) -> np.ndarray:
    shape = spec['shape']
    return np.random.default_rng(0).random(shape, dtype=np.float32)


def _config(model: str) -> dict:
    sys.path.insert(0, ROOT)
    from ppuhd.config import get_config
    cfg = MODELS[model]
    return cfg if isinstance(cfg, dict) else get_config(os.path.join(ROOT, cfg))


def _dygraph_runner(spec: dict):
    import paddle
    sys.path.insert(0, ROOT)
    import ppuhd
    from ppuhd.engine import build_task
    from ppuhd.inference.tiling import paddle_tile_fn, tiled_predict
    paddle.set_device('cpu')
    paddle.base.core.set_num_threads(spec['threads'])
    if spec['model'] in CLASSIFIERS:
        layer, tiling = ppuhd.create_model(CLASSIFIERS[spec['model']]), None
    else:
        task = build_task(_config(spec['model']), inference=True)
        layer, tiling = task.export_layer(), task.deploy_tiling()
    layer.eval()
    fn = paddle_tile_fn(layer)
    return (lambda x: tiled_predict(fn, x, tiling)) if tiling else fn


def _infer_runner(spec: dict):
    from predictor import Predictor, RunOptions
    backend = 'onnx' if spec['backend'] == 'onnx' else 'paddle'
    precision = 'bf16' if spec['backend'] == 'infer_bf16' else 'fp32'
    opts = RunOptions(threads=spec['threads'], precision=precision, backend=backend,
                      onednn=spec['backend'] != 'infer_plain', reuse_memory=spec['backend'] == 'infer_reuse')
    return Predictor(spec['model_dir'], opts).infer


def _default_runner(spec: dict):
    """A user's own client: ``Config`` with Paddle Inference's defaults (CPU: oneDNN on, every default pass)."""
    from paddle import inference
    from predictor import load_infer_cfg
    cfg = load_infer_cfg(spec['model_dir'])
    config = inference.Config(os.path.join(spec['model_dir'], cfg['model_file']),
                              os.path.join(spec['model_dir'], cfg['params_file']))
    config.disable_gpu()
    config.set_cpu_math_library_num_threads(spec['threads'])
    predictor = inference.create_predictor(config)
    handle = predictor.get_input_handle(predictor.get_input_names()[0])

    def run(x):
        handle.reshape(list(x.shape))
        handle.copy_from_cpu(x)
        predictor.run()
        return predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
    return run


def _official_net(model: str, checkout: str):
    """The official PyTorch model of ``model`` from the user's checkout (never vendored) and its test-time call."""
    import importlib.util
    sys.path.insert(0, os.path.join(ROOT, 'tests'))  # the golden cases' loaders of the official code
    from golden.cases import _edt_official, _espcn_official
    if model == 'uhdfour':
        path = os.path.join(checkout, PEER_CODE[model][0])
        module_spec = importlib.util.spec_from_file_location('official_uhdfour', path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        net = module.InteractNet().eval()
        return lambda x: net(x)[0]
    if model.startswith('espcn'):
        return _espcn_official.official_model({'official': checkout}, PEER_CODE[model][1]).eval()
    # EDT: test_sample.py's pipeline (flip-concatenation padding, the network, crop), as our forward does
    net = _edt_official.network(checkout, PEER_CODE[model][1]).eval()
    return lambda x: _edt_official.test_sample(net, [x])[0]


def _peer_runner(spec: dict):
    """The official PyTorch code of the case's model, same input and thread count."""
    import torch
    torch.set_num_threads(spec['threads'])
    if spec['backend'] == 'peer_reuse':
        from predictor import keep_freed_memory
        keep_freed_memory()
    net = _official_net(spec['model'], spec['peer'])

    def run(x):
        with torch.no_grad():
            return net(torch.from_numpy(x)).numpy()
    return run


def run_case(spec: dict) -> dict:
    """Inside the child process: warm up, time ``repeats`` runs, report medians and peak RSS."""
    runner = {'dygraph': _dygraph_runner, 'infer_default': _default_runner, 'peer': _peer_runner,
              'peer_reuse': _peer_runner}.get(
        spec['backend'], _infer_runner)(spec)
    x = _input(spec)
    for _ in range(spec['warmup']):
        runner(x)
    times = []
    for _ in range(spec['repeats']):
        start = time.perf_counter()
        y = runner(x)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {**{k: spec[k] for k in ('model', 'size', 'backend', 'threads', 'shape')}, 'latency_s': median,
            'min_s': min(times), 'throughput': spec['shape'][0] / median, 'repeats': spec['repeats'],
            'output_shape': list(np.shape(y)), 'peak_rss_mb': _peak_rss_mb()}


def _peak_rss_mb() -> float:
    """This process's peak RSS: ``VmHWM``, which belongs to the address space ``exec`` made. ``ru_maxrss`` does
    not: Linux carries it over fork and exec, so a child of this (exporting, hence large) parent reported at
    least the parent's peak (measured: the same 468 MB for two different small cases)."""
    try:
        with open('/proc/self/status') as f:
            return next(int(line.split()[1]) for line in f if line.startswith('VmHWM:')) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _export(model: str, folder: str, onnx: bool):
    """Export once (random weights, with ``model.onnx`` when ``onnx``); returns (model dir, why there is no ONNX
    model or None)."""
    sys.path.insert(0, ROOT)
    import paddle
    import ppuhd
    from ppuhd.engine.export import export_classifier, export_model, export_onnx
    out = os.path.join(folder, model)
    if not os.path.isfile(os.path.join(out, 'infer_cfg.yml')):
        paddle.set_device('cpu')
        if model in CLASSIFIERS:
            export_classifier(ppuhd.create_model(CLASSIFIERS[model]), CLASSIFIERS[model], out)
        else:
            export_model(_config(model), None, out)
    try:
        if onnx and not os.path.isfile(os.path.join(out, 'model.onnx')):
            export_onnx(out)
        return out, None
    except (ImportError, ValueError) as err:
        return out, str(err).split('. The Paddle')[0]


def _shape(model: str, size: str, model_dir: str) -> list:
    """The input batch: classifiers [batch, 3, 224, 224]; image models one image of the model's planes (Y: 1)."""
    if model in CLASSIFIERS:
        return [SIZES[size], 3, 224, 224]
    from predictor import ImageIO, load_infer_cfg
    return [1, ImageIO.from_dict(load_infer_cfg(model_dir)['image_io']).in_channels, *SIZES[size]]


def _peer_checkout(model: str, checkouts: list):
    """The one of the ``--peer`` checkouts that holds ``model``'s official code, or None."""
    marker = PEER_CODE.get(model, (None,))[0]
    return next((c for c in checkouts if marker and os.path.isfile(os.path.join(c, marker))), None)


def machine_info(threads: int) -> dict:
    """CPU model, cores, threads, load average, Python version, UTC date (also used by benchmarks/)."""
    cpu = platform.processor()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return {'cpu': cpu, 'cores': os.cpu_count(), 'threads': threads, 'load_avg': os.getloadavg(),
            'python': platform.python_version(), 'date_utc': time.strftime('%Y-%m-%d %H:%M', time.gmtime())}


def _child(spec: dict, timeout: float) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(spec['threads']), GLOG_minloglevel='2')
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), '--child', json.dumps(spec)],
                          capture_output=True, text=True, timeout=timeout, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith('{')]
    if proc.returncode != 0 or not lines:
        reason = (proc.stderr.strip().splitlines() or [f'exit {proc.returncode}'])[-1]
        return {**{k: spec[k] for k in ('model', 'size', 'backend', 'threads', 'shape')}, 'error': reason[:200]}
    return json.loads(lines[-1])


def markdown(results: list, machine: dict, command: str) -> str:
    lines = [f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['threads']} threads, "
             f"load average at start {', '.join(f'{v:.2f}' for v in machine['load_avg'])} ({machine['date_utc']} UTC).",
             f'Command: `{command}`', '',
             '| model | input | output | backend | median latency (s) | throughput (img/s) | peak RSS (MB) |',
             '|---|---|---|---|---:|---:|---:|']
    for r in results:
        shape = 'x'.join(map(str, r['shape']))
        if 'error' in r:
            lines.append(f"| {r['model']} | {shape} | | {r['backend']} | failed: {r['error']} | | |")
        else:
            lines.append(f"| {r['model']} | {shape} | {'x'.join(map(str, r['output_shape']))} | {r['backend']} "
                         f"| {r['latency_s']:.3f} | {r['throughput']:.3f} | {r['peak_rss_mb']:.0f} |")
    return '\n'.join(lines) + '\n'


def _ratios(results: list) -> list:
    out = []
    for kind, name in (('peer', 'the official PyTorch'), ('peer_reuse', 'the official PyTorch (reuse-memory)')):
        for r in results:
            peer = next((p for p in results if p['backend'] == kind and p['model'] == r['model'] and
                         p['shape'] == r['shape'] and 'error' not in p), None)
            if peer and r['backend'] not in PEERS and 'error' not in r:
                out.append(f"{r['model']} {'x'.join(map(str, r['shape']))} {r['backend']}: "
                           f"{r['latency_s'] / peer['latency_s']:.2f}x {name} time, "
                           f"{r['peak_rss_mb'] / peer['peak_rss_mb']:.2f}x its peak memory")
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--cases', default=','.join(DEFAULT_CASES), help='model@size list; sizes: ' + ', '.join(SIZES))
    p.add_argument('--backends', default='dygraph,infer_fp32,infer_reuse,infer_bf16,infer_plain,onnx', help=', '.join(BACKENDS))
    p.add_argument('--threads', type=int, default=os.cpu_count() or 1)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--peer', action='append', default=[],
                   help='a checkout of official code, repeatable: Li-Chongyi/UHDFour_code, yjn870/ESPCN-pytorch, '
                        'fenglinglwb/EDT (recognised by their files; adds the "peer" backend unless peer_reuse is '
                        'listed; models whose official code is not given run without it)')
    p.add_argument('--export-dir', default=None, help='where models are exported (default: a temp folder)')
    p.add_argument('--json', default='output/benchmark.json')
    p.add_argument('--markdown', default='output/benchmark.md')
    p.add_argument('--timeout', type=float, default=1800, help='seconds per case')
    p.add_argument('--child', default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_case(json.loads(args.child))))
        return 0
    backends = [b for b in args.backends.split(',') if b]
    if any(b in PEERS for b in backends) and not args.peer:
        print('benchmark: the peer backends time the official PyTorch code: add --peer /path/to/UHDFour_code '
              '(or /path/to/ESPCN-pytorch, /path/to/EDT; repeatable)', file=sys.stderr)
        return 2
    markers = sorted({marker for marker, _ in PEER_CODE.values()})
    unrecognised = [c for c in args.peer if not any(os.path.isfile(os.path.join(c, m)) for m in markers)]
    if unrecognised:
        print(f'benchmark: --peer {unrecognised[0]} holds none of {markers}: not a checkout of official code this '
              f'benchmark runs', file=sys.stderr)
        return 2
    peers = [b for b in PEERS if b in backends] or (['peer'] if args.peer else [])
    backends = [b for b in backends if b not in PEERS] + peers  # each once, last
    unknown = [b for b in backends if b not in BACKENDS]
    cases = [c.split('@') for c in args.cases.split(',')]
    bad = [c for c in cases if len(c) != 2 or c[1] not in SIZES or
           not (c[0] in MODELS and isinstance(SIZES[c[1]], tuple) or c[0] in CLASSIFIERS and isinstance(SIZES[c[1]], int))]
    if unknown or bad:
        images = [k for k, v in SIZES.items() if isinstance(v, tuple)]
        print(f"benchmark: unknown backends {unknown} or cases {['@'.join(c) for c in bad]}; image models "
              f"{list(MODELS)} take sizes {', '.join(images)}; classifiers {list(CLASSIFIERS)} take batches b1, b8, b32",
              file=sys.stderr)
        return 2
    machine = machine_info(args.threads)
    export_dir = args.export_dir or tempfile.mkdtemp(prefix='ppuhd_bench_')
    results = []
    for model, size in cases:
        model_dir, no_onnx = _export(model, export_dir, 'onnx' in backends)
        peer = _peer_checkout(model, args.peer)
        for backend in backends:
            if backend in PEERS and not peer:
                continue
            if backend == 'onnx' and no_onnx:
                results.append({'model': model, 'size': size, 'backend': backend, 'threads': args.threads,
                                'shape': _shape(model, size, model_dir), 'error': no_onnx})
                continue
            spec = {'model': model, 'size': size, 'backend': backend, 'threads': args.threads,
                    'shape': _shape(model, size, model_dir), 'model_dir': model_dir, 'peer': peer,
                    'warmup': args.warmup, 'repeats': args.repeats}
            results.append(_child(spec, args.timeout))
            print(json.dumps(results[-1]), flush=True)
    command = 'python deploy/python/benchmark.py ' + ' '.join(argv if argv is not None else sys.argv[1:])
    table = markdown(results, machine, command)
    ratios = _ratios(results)
    print('\n' + table + ''.join(f'- {line}\n' for line in ratios))
    for path, text in ((args.json, json.dumps({'machine': machine, 'results': results, 'ratios': ratios}, indent=2)),
                       (args.markdown, table + ''.join(f'- {line}\n' for line in ratios))):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
