"""IPT test-time tiling on CPU: ours against the official ``forward_chop``, same weights, same threads.

    python benchmarks/ipt_chop.py --official /path/to/Pretrained-IPT --threads 2
    python benchmarks/ipt_chop.py --official /path/to/Pretrained-IPT --runs official:official infer_bf16:cosine24
    python benchmarks/ipt_chop.py --official /path/to/Pretrained-IPT --tile-rounds 3 --reuse-memory
    python benchmarks/ipt_chop.py --tiling-psnr --scale 2    # PSNR between tilings on Set5 (see below)

Weights: the official model's own random initialisation (``torch.manual_seed(0)``), saved as an official
checkpoint and converted with ``tools/convert_weights.py``; without ``--official``, random Paddle weights.
Image: Set5 ``baby`` LR at the scale (256 x 256 for x2) from ``$PPUHD_BENCHMARK_DATA`` (default
``../shared/data``), else seeded noise of ``--size``. Every run (``BACKEND:CHOP``) is a fresh subprocess:
one untimed pass on one tile (kernel set-up), then one timed image. ``--reuse-memory`` runs every
process with glibc keeping freed memory (``deploy/python/predictor.py``), which matters here: a batch
of 64 tiles allocates 150-200 MB tensors that the default allocator maps and zeroes afresh each time.

Backends:
  official    ``Model.forward`` (eval: ``forward_chop``, ``crop_batch_size`` 64) of the checkout, PyTorch on CPU:
              ``tests/golden/cases/_ipt_official.py`` makes its ``.cuda()`` calls and ``data_parallel`` no-ops at
              run time (what one-GPU ``data_parallel`` does); nothing else of the official code changes
  dygraph     ours, Paddle dygraph: ``model(x)`` in eval mode
  infer_fp32  the export of ``tools/export.py`` (``ppuhd.engine.export.export_task``: the 48 x 48 tile network,
              ``[N, 3, 48, 48]``) run by the deploy predictor (deploy/python/predictor.py, oneDNN, its passes) as
              the tile function of ``ppuhd.models.ipt.chop`` in numpy (what ``Predictor.enhance`` does)
  infer_bf16  the same with ``RunOptions(precision='bf16')`` (oneDNN bf16)
CHOP: ``official`` (the ``forward_chop`` output) or ``cosineS`` (48 px tiles at stride S, raised-cosine blend).

Prints seconds, tile passes, the time ratio to the official run (when there is one) and each output's
rel. L2 and PSNR against the official run's (or, without one, the first run's) output.

``--tile-rounds N``: on a shared machine one image per backend is at the mercy of the other jobs. This
mode times one batch per backend (official: its 64 tiles; ours: ``chop_batch_size``), best of 3 passes, in
N alternating rounds, and estimates the official chop of the image as best ms/tile x tile passes (397 for
``forward_chop`` at 256 x 256, 361 for ours).

``--tiling-psnr``: on every Set5 LR image, the PSNR (Y channel, crop = scale) of each cosine stride's output
against the official chop's, both from ``infer_fp32`` with the same weights, next to the PSNR of the official
chop itself with its grid shifted by 6 px (the spread the official tiling has by its own arbitrary tile
placement). With random weights this measures how much a tile's output depends on the context the tiling
gives it, not image quality: the released weights would be needed for the PSNR against the HR images.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'tests'))
sys.path.insert(0, os.path.join(ROOT, 'deploy', 'python'))

SHIFT = 6  # px: half the official stride
BACKENDS = ('official', 'dygraph', 'infer_fp32', 'infer_bf16')
DEFAULT_RUNS = ('official:official', 'dygraph:official', 'infer_fp32:official', 'infer_bf16:official',
                'infer_fp32:cosine24', 'infer_bf16:cosine24', 'infer_bf16:cosine36')


def _chop_args(chop: str):
    if chop == 'official':
        return 'official', 24
    if chop.startswith('cosine') and chop[6:].isdigit():
        return 'cosine', int(chop[6:])
    raise SystemExit(f'chop {chop!r}: use official or cosine<stride>, e.g. cosine24')


def _predictor(export_dir: str, threads: int, bf16: bool):
    """The tile function of the shipped deploy predictor (deploy/python/predictor.py, its default passes)."""
    from predictor import Predictor, RunOptions
    return Predictor(export_dir, RunOptions(threads=threads, precision='bf16' if bf16 else 'fp32')).run


def _ours(backend: str, work: str, scale: int, threads: int, chop: str = 'official', batch_size: int = 0):
    """(tile fn, our model) for a Paddle backend."""
    import paddle

    import ppuhd
    from ppuhd.utils.weights import load_weights
    paddle.set_device('cpu')
    paddle.base.core.set_num_threads(threads)
    mode, stride = _chop_args(chop)
    extra = {'chop_batch_size': batch_size} if batch_size else {}
    model = ppuhd.create_model(f'ipt_sr_x{scale}', chop=mode, chop_stride=stride, **extra)
    load_weights(model, os.path.join(work, 'weights.pdparams'))
    model.eval()
    if backend == 'dygraph':
        def run(tiles):
            with paddle.no_grad():
                return model.forward_tile(paddle.to_tensor(tiles)).numpy()
        return run, model
    return _predictor(os.path.join(work, 'export'), threads, backend == 'infer_bf16'), model


def _case(backend: str, chop: str, work: str, scale: int, threads: int, official: str, batch_size: int) -> dict:
    image = np.load(os.path.join(work, 'image.npy'))
    passes = []
    if backend == 'official':
        import torch

        from golden.cases import _ipt_official
        torch.set_num_threads(threads)
        wrapper = _ipt_official.build(official, ['--scale', str(scale)])
        wrapper.model.load_state_dict(torch.load(os.path.join(work, 'official.pt')))
        forward = wrapper.model.forward

        def counted(x):  # forward_chop calls model.forward directly and through data_parallel
            passes.append(len(x))
            return forward(x)
        wrapper.model.forward = counted
        _ipt_official.chop(wrapper, torch.zeros(1, 3, 48, 48))
        passes.clear()
        start = time.perf_counter()
        out = _ipt_official.chop(wrapper, torch.from_numpy(image * 255)).numpy() / 255
    elif backend == 'dygraph':
        import paddle
        _, model = _ours(backend, work, scale, threads, chop, batch_size)
        tile = model.forward_tile

        def counted(x, *more):
            passes.append(x.shape[0])
            return tile(x, *more)
        model.forward_tile = counted
        with paddle.no_grad():
            model(paddle.zeros([1, 3, 48, 48]))
            passes.clear()
            start = time.perf_counter()
            out = model(paddle.to_tensor(image)).numpy()
    else:
        from ppuhd.models.ipt import chop as ipt_chop
        fn, model = _ours(backend, work, scale, threads, chop, batch_size)

        def counted(tiles):
            passes.append(len(tiles))
            return fn(tiles)
        fn(np.zeros((1, 3, 48, 48), np.float32))
        start = time.perf_counter()
        out = ipt_chop(counted, image, model.chop, stride=model.chop_stride, batch_size=model.chop_batch_size)
    seconds = time.perf_counter() - start
    np.save(os.path.join(work, f'out_{backend}_{chop}.npy'), out.astype(np.float32))
    return {'backend': backend, 'chop': chop, 'seconds': round(seconds, 2), 'passes': sum(passes),
            'batch': max(passes), 'threads': threads}


def _image_passes(h: int, w: int, official: bool) -> int:
    """Tile passes of the official chop of an h x w image: ``forward_chop``'s, or ours (each distinct tile once)."""
    from ppuhd.inference.tiling import official_ipt_axis_weights
    rows, cols = len(official_ipt_axis_weights(h, 1)[0]), len(official_ipt_axis_weights(w, 1)[0])
    if not official:
        return rows * cols
    grid_h, grid_w = rows - bool((h - 48) % 12), cols - bool((w - 48) % 12)
    # grid, top and bottom strips, left and right strips, the corner tile
    return grid_h * grid_w + 2 * grid_w + 2 * grid_h + 1


def _tile_rate(backend: str, work: str, scale: int, threads: int, official: str, batch_size: int) -> dict:
    """Steady-state seconds per tile: the best of 3 timed passes of one batch after one warm-up pass."""
    image = np.load(os.path.join(work, 'image.npy'))[0]
    if backend == 'official':
        import torch

        from golden.cases import _ipt_official
        torch.set_num_threads(threads)
        wrapper = _ipt_official.build(official, ['--scale', str(scale)])
        wrapper.model.load_state_dict(torch.load(os.path.join(work, 'official.pt')))
        batch = wrapper.args.crop_batch_size
        net = wrapper.model.eval()

        def run(tiles):
            with torch.no_grad():
                return net(torch.from_numpy(tiles * 255))
    else:
        run, model = _ours(backend, work, scale, threads, 'official', batch_size)
        batch = model.chop_batch_size
    corners = [(y, x) for y in range(0, image.shape[1] - 47, 12) for x in range(0, image.shape[2] - 47, 12)][:batch]
    tiles = np.stack([image[:, y:y + 48, x:x + 48] for y, x in corners]).astype(np.float32)
    run(tiles)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        run(tiles)
        times.append(time.perf_counter() - start)
    return {'backend': backend, 'seconds_per_tile': min(times) / len(tiles), 'batch': len(tiles)}


def _prepare(args, work: str) -> np.ndarray:
    """Weights (official init -> official .pt -> convert_weights.py), the export and the input image."""
    import paddle

    import ppuhd
    arch = f'ipt_sr_x{args.scale}'
    if args.official:
        import torch

        from golden.cases import _ipt_official
        torch.manual_seed(0)
        wrapper = _ipt_official.build(args.official, ['--scale', str(args.scale)])
        torch.save(wrapper.model.state_dict(), os.path.join(work, 'official.pt'))
        proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'convert_weights.py'), '--arch', arch,
                               '--src', os.path.join(work, 'official.pt'), '--dst',
                               os.path.join(work, 'weights.pdparams')], capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(proc.stderr)
        model = ppuhd.create_model(arch)
        model.set_state_dict(paddle.load(os.path.join(work, 'weights.pdparams')))
    else:
        paddle.seed(0)
        model = ppuhd.create_model(arch)
        paddle.save(model.state_dict(), os.path.join(work, 'weights.pdparams'))
    from ppuhd.engine.export import export_task
    from ppuhd.tasks.enhancement import EnhancementTask
    export_task(EnhancementTask(model.eval(), losses=[]), {'model': {'type': arch}}, os.path.join(work, 'export'))
    image = _set5_images(args.scale)[:1]
    if image:
        image = image[0][1]
    else:
        image = np.random.default_rng(0).uniform(0, 1, (3, args.size, args.size)).astype(np.float32)
    image = image[None]
    np.save(os.path.join(work, 'image.npy'), image)
    return image


def _set5_images(scale: int):
    """[(name, CHW float32 LR)] of Set5 at ``scale`` (baby first), or [] without the benchmark data."""
    from ppuhd.data.restoration import benchmark_data_dir
    from ppuhd.utils.image_io import read_image_float
    folder = benchmark_data_dir('SR', 'Set5', 'LR', f'x{scale}')
    if folder is None:
        return []
    paths = sorted(glob.glob(os.path.join(folder, '*.png')), key=lambda p: not os.path.basename(p).startswith('baby'))
    return [(os.path.basename(p), np.ascontiguousarray(read_image_float(p).transpose(2, 0, 1))) for p in paths]


def _tiling_psnr(args, work: str) -> None:
    """PSNR of each cosine stride, and of the official chop shifted by ``SHIFT`` px, against the official chop."""
    from ppuhd.metrics.image import psnr
    from ppuhd.models.ipt import chop as ipt_chop
    images = _set5_images(args.scale)
    if not images:
        raise SystemExit('--tiling-psnr needs Set5 (set PPUHD_BENCHMARK_DATA)')
    fn, _ = _ours('infer_fp32', work, args.scale, args.threads)
    s, k = args.scale, SHIFT

    def shifted(lr):  # the official chop with its grid moved by k px (reflect-padded top/left, cropped back)
        padded = np.pad(lr, ((0, 0), (k, 0), (k, 0)), mode='reflect')
        return ipt_chop(fn, padded[None], 'official')[0][:, k * s:, k * s:]
    columns = [f'cosine{stride}' for stride in args.strides] + [f'official shifted {k} px']
    print('| image (LR) | ' + ' | '.join(f'{c} vs official (dB)' for c in columns) + ' |')
    print('|---|' + '---:|' * len(columns))
    values = {c: [] for c in columns}
    for name, lr in images:
        ref = ipt_chop(fn, lr[None], 'official')[0]
        outs = [ipt_chop(fn, lr[None], 'cosine', stride=stride)[0] for stride in args.strides] + [shifted(lr)]
        for c, out in zip(columns, outs):
            values[c].append(psnr(np.clip(out, 0, 1).transpose(1, 2, 0), np.clip(ref, 0, 1).transpose(1, 2, 0),
                                  color='y', crop_border=s))
        print(f'| {name} {lr.shape[2]}x{lr.shape[1]} | ' + ' | '.join(f'{values[c][-1]:.2f}' for c in columns) + ' |',
              flush=True)
    print('| mean | ' + ' | '.join(f'{np.mean(values[c]):.2f}' for c in columns) + ' |')


def _rel_l2(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _run_case(args, work: str, backend: str, chop: str) -> dict:
    """One ``--case`` in a fresh subprocess (its own memory, threads and allocator setting)."""
    if backend not in BACKENDS:
        raise SystemExit(f'backend {backend!r}: one of {BACKENDS}')
    cmd = [sys.executable, os.path.abspath(__file__), '--case', backend, chop, '--work', work, '--scale',
           str(args.scale), '--threads', str(args.threads), '--official', args.official, '--batch-size',
           str(args.batch_size)] + (['--reuse-memory'] if args.reuse_memory else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
    if proc.returncode:
        raise SystemExit(f'{backend}:{chop} failed:\n{proc.stderr[-3000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _tile_rounds(args, work: str, runs, size) -> None:
    backends = list(dict.fromkeys(run.partition(':')[0] for run in runs))
    best = {}
    for round_ in range(args.tile_rounds):
        for backend in backends:
            rate = _run_case(args, work, backend, 'tiles')
            best.setdefault(backend, []).append(rate)
            print(f'  round {round_ + 1} {backend}: {rate["seconds_per_tile"] * 1e3:.0f} ms/tile (batch {rate["batch"]}), '
                  f'load {os.getloadavg()[0]:.2f}', flush=True)
    h, w = size
    estimate = {b: min(r['seconds_per_tile'] for r in rates) * _image_passes(h, w, b == 'official')
                for b, rates in best.items()}
    ref = estimate.get('official')
    print(f'\n| backend | batch | best ms/tile | all rounds (ms/tile) | passes, official chop of {w}x{h} | '
          f'estimated seconds | vs official |')
    print('|---|---:|---:|---|---:|---:|---:|')
    for b, rates in best.items():
        per_tile = [r['seconds_per_tile'] * 1e3 for r in rates]
        ratio = f'{estimate[b] / ref:.2f}x' if ref else ''
        print(f'| {b} | {rates[0]["batch"]} | {min(per_tile):.0f} | {", ".join(f"{t:.0f}" for t in per_tile)} | '
              f'{_image_passes(h, w, b == "official")} | {estimate[b]:.1f} | {ratio} |')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--official', default='', help='checkout of huawei-noah/Pretrained-IPT (adds the official runs)')
    parser.add_argument('--runs', nargs='+', default=None, help=f'BACKEND:CHOP items (default: {" ".join(DEFAULT_RUNS)})')
    parser.add_argument('--scale', type=int, default=2, choices=(2, 3, 4))
    parser.add_argument('--size', type=int, default=256, help='side of the noise image when Set5 is absent')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--batch-size', type=int, default=0,
                        help='tiles per pass of our runs (default: the model\'s chop_batch_size; the official run keeps '
                             'its crop_batch_size 64)')
    parser.add_argument('--reuse-memory', action='store_true',
                        help='every run (official too) keeps freed memory (deploy/python/predictor.py keep_freed_memory)')
    parser.add_argument('--tile-rounds', type=int, default=0,
                        help='instead of whole images: N rounds over the backends of --runs, each timing one batch of '
                             'tiles; the best round estimates the image time (robust on a shared machine)')
    parser.add_argument('--tiling-psnr', action='store_true', help='PSNR between tilings on Set5 instead of timing')
    parser.add_argument('--strides', nargs='+', type=int, default=[24, 36], help='cosine strides of --tiling-psnr')
    parser.add_argument('--work', default='', help='folder for weights, export and outputs (default: a temp dir)')
    parser.add_argument('--case', nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix='ipt_chop_')
    if args.case:
        if args.reuse_memory:
            from predictor import keep_freed_memory
            keep_freed_memory()
        if args.case[1] == 'tiles':
            result = _tile_rate(args.case[0], work, args.scale, args.threads, args.official, args.batch_size)
        else:
            result = _case(*args.case, work, args.scale, args.threads, args.official, args.batch_size)
        print(json.dumps(result))
        return 0
    os.makedirs(work, exist_ok=True)
    image = _prepare(args, work)
    if args.tiling_psnr:
        _tiling_psnr(args, work)
        return 0
    runs = args.runs or [r for r in DEFAULT_RUNS if args.official or not r.startswith('official')]
    allocator = 'reuse-memory' if args.reuse_memory else 'glibc default'
    print(f'IPT x{args.scale}, input {image.shape[3]}x{image.shape[2]}, {args.threads} threads, {allocator} allocator, load average '
          f'{", ".join(f"{v:.2f}" for v in os.getloadavg())} ({time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})')
    if args.tile_rounds:
        _tile_rounds(args, work, runs, image.shape[2:])
        return 0
    results = []
    for run in runs:
        backend, _, chop = run.partition(':')
        _chop_args(chop)
        results.append(_run_case(args, work, backend, chop))
        print(f'  {run}: {results[-1]["seconds"]} s, {results[-1]["passes"]} tile passes in batches of '
              f'{results[-1]["batch"]}', flush=True)
    ref = next((r for r in results if r['backend'] == 'official'), results[0])
    ref_out = np.load(os.path.join(work, f'out_{ref["backend"]}_{ref["chop"]}.npy'))
    from ppuhd.metrics.image import psnr
    print(f'\n| backend | chop | seconds | tile passes (batch) | time vs {ref["backend"]}:{ref["chop"]} | rel. L2 | '
          'PSNR (dB) |')
    print('|---|---|---:|---:|---:|---:|---:|')
    for r in results:
        out = np.load(os.path.join(work, f'out_{r["backend"]}_{r["chop"]}.npy'))
        same = r is ref
        score = '' if same else f'{psnr(out[0].transpose(1, 2, 0), ref_out[0].transpose(1, 2, 0), clamp=False):.1f}'
        print(f'| {r["backend"]} | {r["chop"]} | {r["seconds"]:.1f} | {r["passes"]} ({r["batch"]}) | '
              f'{r["seconds"] / ref["seconds"]:.2f}x | {"" if same else f"{_rel_l2(out, ref_out):.1e}"} | {score} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
