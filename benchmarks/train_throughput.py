"""Training throughput (images/s) and peak memory of one training step, ours against the official PyTorch code.

    python benchmarks/train_throughput.py                                   # every case, ppuhd only
    python benchmarks/train_throughput.py --cases deit_ti@224,uhdfour@128 --peer /path/to/checkouts --rounds 3
    python benchmarks/train_throughput.py --cases llformer@128:b12          # another batch size
    python benchmarks/train_throughput.py --cases deit_ti@224:b8 --threads 1 --profile output/profile  # op table

A step is what ``tools/train.py`` runs every iteration (``ppuhd.engine.step.TrainStep``: forward, loss,
backward, optimizer update, plus the LR schedule step), on a fixed random batch of the case's size (the data
pipeline is not timed here). The model, loss and optimizer come from the project's config of the case;
``--peer`` runs the official PyTorch training step of the same model with the same loss, optimizer, input
size and thread count: the official model code, its loss (the official loss functions where the repository
has them), torch.optim as the official training script builds it. ``--peer`` names a folder holding the
checkouts under their repository names (``UHDFour_code``, ``LLFormer``, ``EDT``, ``ESPCN-pytorch``, and
``timm``: a folder with the timm package, e.g. ``pip install --no-deps --target DIR/timm timm``), or
``name=path`` pairs (``uhdfour=...,llformer=...,edt=...,espcn=...,timm=...``).

Every measurement runs in a fresh subprocess: ``--warmup`` steps, then ``--repeats`` samples of k steps each
(k chosen from the last warm-up step so that a sample lasts at least ``--min-sample`` seconds); the step time
is the median over samples. With ``--peer`` the timing runs in ONE process holding both steps, their samples
alternating (ours, peer, ours, peer, ...), so both see the same load from other jobs, and the ratio (our
throughput / the peer's) is the median of the per-pair ratios; the peak RSS of each comes from a separate
child that only warms up (two frameworks in one process share one RSS). With ``--rounds N`` the timing
repeats N times, each figure the median over rounds. The load average is recorded before every child: other
jobs on the machine distort the numbers, PyTorch's OpenMP threads far more than Paddle's (docs/benchmarks.md).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, os.path.join(ROOT, 'deploy', 'python'))
from benchmark import machine_info  # noqa: E402  (deploy/python/benchmark.py: CPU, cores, load, date)

# name -> our config (with overrides), the input crop, the batch, and the official code that trains the same thing
CASES = {
    # the demo recipe (configs/uhdfour/uhdfour_demo.yml: SmoothL1 x5, SmoothL1 of the 1/8 output x0.5, SSIM x0.002,
    # no VGG term), Adam betas (0.9, 0.99); batch 2 as the official train.sh
    'uhdfour@128': dict(config='configs/uhdfour/uhdfour_demo.yml', crop=128, batch=2, peer='uhdfour'),
    'uhdfour@512': dict(config='configs/uhdfour/uhdfour_demo.yml', crop=512, batch=2, peer='uhdfour'),
    # deit main.py with mixup/cutmix off: label-smoothing CE (0.1), AdamW wd .05 (no decay on 1-D params and
    # no_weight_decay()), drop path .1
    'deit_ti@224': dict(config='configs/deit/deit_tiny_patch16_224.yml', crop=224, batch=32, peer='timm',
                        arch='deit_tiny_patch16_224', overrides=['task.mixup=None']),
    'deit_s@224': dict(config='configs/deit/deit_small_patch16_224.yml', crop=224, batch=32, peer='timm',
                       arch='deit_small_patch16_224', overrides=['task.mixup=None']),
    # official train.py: SmoothL1, Adam (0.9, 0.999); batch 4 (the official 12 with :b12)
    'llformer@128': dict(config='configs/llformer/llformer_demo.yml', crop=128, batch=4, peer='llformer'),
    # EDT-T x2 (SRx2_EDTT_Div2kFlickr2K): L1, Adam (0.9, 0.99), drop path .1; batch 16 as the demo (official 4/GPU)
    'edt_t@48': dict(config='configs/edt/edt_t_sr_x2_df2k.yml', crop=48, batch=16, peer='edt',
                     official_config='SRx2_EDTT_Div2kFlickr2K'),
    # yjn870 train.py: Y channel, MSE, Adam 1e-3 with the last conv at lr x 0.1, batch 16
    'espcn_x3@17': dict(config='configs/espcn/espcn_x3_t91.yml', crop=17, batch=16, peer='espcn'),
}
DEFAULT_CASES = list(CASES)
IMPLS = ('ppuhd', 'peer')
PEER_DIRS = {'uhdfour': 'UHDFour_code', 'llformer': 'LLFormer', 'edt': 'EDT', 'espcn': 'ESPCN-pytorch', 'timm': 'timm'}


def parse_case(text: str) -> dict:
    """``name`` or ``name:b<batch>`` -> the case spec (ValueError naming the known cases)."""
    name, _, opt = text.partition(':')
    if name not in CASES or (opt and not (opt[:1] == 'b' and opt[1:].isdigit() and int(opt[1:]) > 0)):
        raise ValueError(f"unknown case {text!r}: use one of {', '.join(CASES)}, optionally with :b<batch>")
    case = dict(CASES[name], name=name)
    if opt:
        case['batch'] = int(opt[1:])
    return case


def parse_peer(text: str) -> dict:
    """``--peer`` -> {family: path}: a folder of checkouts named as the repositories, or name=path pairs."""
    if '=' not in text:
        return {family: os.path.join(text, sub) for family, sub in PEER_DIRS.items()}
    pairs = dict(item.split('=', 1) for item in text.split(',') if item)
    unknown = sorted(set(pairs) - set(PEER_DIRS))
    if unknown:
        raise ValueError(f'--peer: unknown names {unknown}; use {", ".join(PEER_DIRS)}')
    return pairs


# ----------------------------------------------------------------------------------------------- inputs
def _arrays(case: dict, scale: int, num_classes: int = 1000) -> dict:
    """The same random batch for both implementations (numpy, seed 0)."""
    rng = np.random.default_rng(0)
    b, c = case['batch'], case['crop']
    if case['peer'] == 'timm':
        return {'image': rng.standard_normal((b, 3, c, c), dtype=np.float32),
                'label': rng.integers(0, num_classes, b).astype('int64')}
    return {'lq': rng.random((b, 3, c, c), dtype=np.float32),
            'gt': rng.random((b, 3, c * scale, c * scale), dtype=np.float32)}


def _rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


# ------------------------------------------------------------------------------------------ our step
def _ppuhd_step(case: dict, threads: int):
    sys.path.insert(0, ROOT)
    import paddle
    from ppuhd.config import get_config
    from ppuhd.engine.amp import Amp
    from ppuhd.engine.optim import build_lr_scheduler, build_optimizer, scaled_lr
    from ppuhd.engine.step import TrainStep
    from ppuhd.tasks.builder import build_task
    from ppuhd.utils.device import setup_device
    from ppuhd.utils.seed import set_seed
    cfg = get_config(os.path.join(ROOT, case['config']), case.get('overrides', ()))
    setup_device('cpu', threads)
    set_seed(0)
    task = build_task(cfg)
    lr = build_lr_scheduler(cfg['lr_scheduler'], scaled_lr(cfg['optimizer'], case['batch']), 10 ** 6, 1000)
    optimizer = build_optimizer(cfg['optimizer'], task.model, lr, cfg['train'].get('grad_clip'))
    step = TrainStep(task, optimizer, Amp(cfg['train'].get('amp')))
    scale = getattr(getattr(task, 'image_io', None), 'scale', 1)
    batch = {k: paddle.to_tensor(v) for k, v in
             _arrays(case, scale, getattr(task.model, 'num_classes', 1000)).items()}
    task.train()

    def run():
        out = step([batch])
        lr.step()
        return out['loss']
    return run


# ------------------------------------------------------------------------------------ official steps
def _import_file(path: str, name: str):
    import importlib.util
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path} not found: --peer must name the official checkout (see --help)')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _torch_batch(case: dict, scale: int, y_channel: bool = False):
    import torch
    arrays = _arrays(case, scale)
    if y_channel:  # ESPCN trains on Y; yjn870 feeds Y patches
        from_rgb = np.array([65.481, 128.553, 24.966], dtype=np.float32) / 255.0
        arrays = {k: (np.tensordot(v, from_rgb, axes=([1], [0]))[:, None] + 16 / 255.0).astype(np.float32)
                  for k, v in arrays.items()}
    return {k: torch.from_numpy(v) for k, v in arrays.items()}


def _peer_uhdfour(case, path):
    """src/UHDFour_model.py's training step without the VGG19 term (the demo recipe): InteractNet, Adam."""
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, os.path.join(path, 'src'))
    arch = _import_file(os.path.join(path, 'src', 'EnhanceN_arch.py'), 'official_uhdfour_arch')
    ssim = _import_file(os.path.join(path, 'src', 'pytorch_ssim', '__init__.py'), 'official_pytorch_ssim')
    net = arch.InteractNet().train()
    optim = torch.optim.Adam(net.parameters(), lr=3e-4, betas=(0.9, 0.99), eps=1e-8)
    batch = _torch_batch(case, 1)
    source, target = batch['lq'], batch['gt']

    def run():
        final, final_down = net(source)
        target_down = F.interpolate(target, scale_factor=0.125, mode='bilinear')
        loss = 5 * F.smooth_l1_loss(final, target) + 0.5 * F.smooth_l1_loss(final_down, target_down) \
            + 0.002 * (1 - ssim.ssim(final, target))
        optim.zero_grad()
        loss.backward()
        optim.step()
        return loss.item()
    return run


def _peer_timm(case, path):
    """deit main.py (mixup off): timm model, LabelSmoothingCrossEntropy(0.1), timm's AdamW param groups."""
    import torch
    sys.path.insert(0, os.path.join(ROOT, 'tests', 'helpers'))
    from timm_reference import _prepare_imports  # torchvision stand-in (the PyPI build does not import here)
    _prepare_imports(path)
    import timm
    import timm.loss
    import timm.optim
    net = timm.create_model(case['arch'], drop_path_rate=0.1).train()
    optim = timm.optim.create_optimizer_v2(net, 'adamw', lr=5e-4 * case['batch'] / 512, weight_decay=0.05,
                                           eps=1e-8)
    criterion = timm.loss.LabelSmoothingCrossEntropy(0.1)
    batch = _torch_batch(case, 1)

    def run():
        loss = criterion(net(batch['image']), batch['label'])
        optim.zero_grad()
        loss.backward()
        optim.step()
        return loss.item()
    return run


def _peer_llformer(case, path):
    """train.py: LLFormer of the released configuration, SmoothL1Loss, Adam (0.9, 0.999) eps 1e-8."""
    import torch
    sys.path.insert(0, path)
    module = _import_file(os.path.join(path, 'model', 'LLFormer.py'), 'official_llformer')
    net = module.LLFormer(inp_channels=3, out_channels=3, dim=16, num_blocks=[2, 4, 8, 16], num_refinement_blocks=2,
                          heads=[1, 2, 4, 8], ffn_expansion_factor=2.66, bias=False, LayerNorm_type='WithBias',
                          attention=True, skip=False).train()
    optim = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
    criterion = torch.nn.SmoothL1Loss()
    batch = _torch_batch(case, 1)

    def run():
        loss = criterion(net(batch['lq']), batch['gt'])
        optim.zero_grad()
        loss.backward()
        optim.step()
        return loss.item()
    return run


def _peer_edt(case, path, timm_path=None):
    """utils/modules/edt.py Network of the config in training mode (its own L1 criterion), Adam (0.9, 0.99).

    ``edt.py`` imports DropPath from timm: with the timm package of ``--peer`` its stochastic depth trains as
    ours does; without it the golden cases' stand-in (identity DropPath) is used, and the result says so."""
    import torch
    sys.path.insert(0, os.path.join(ROOT, 'tests'))
    from golden.cases import _edt_official  # the official Network of a config, as the parity tests build it
    if timm_path and os.path.isdir(os.path.join(timm_path, 'timm')):
        sys.path.insert(0, os.path.join(ROOT, 'tests', 'helpers'))
        from timm_reference import _prepare_imports
        _prepare_imports(timm_path)
    net = _edt_official.network(path, case['official_config']).train()
    optim = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.9, 0.99), eps=1e-8)
    scale = int(net.test_config.MODEL.SCALES[0])
    batch = _torch_batch(case, scale)

    def run():
        losses = net([batch['lq']], [batch['gt']])
        loss = sum(losses.values())
        optim.zero_grad()
        loss.backward()
        optim.step()
        return loss.item()
    return run


def _peer_espcn(case, path):
    """yjn870 train.py: ESPCN(scale 3), MSELoss, Adam 1e-3 with last_part at lr x 0.1, Y patches."""
    import torch
    module = _import_file(os.path.join(path, 'models.py'), 'official_espcn')
    net = module.ESPCN(scale_factor=3).train()
    optim = torch.optim.Adam([{'params': net.first_part.parameters()},
                              {'params': net.last_part.parameters(), 'lr': 1e-4}], lr=1e-3)
    criterion = torch.nn.MSELoss()
    batch = _torch_batch(case, 3, y_channel=True)

    def run():
        loss = criterion(net(batch['lq']), batch['gt'])
        optim.zero_grad()
        loss.backward()
        optim.step()
        return loss.item()
    return run


PEERS = {'uhdfour': _peer_uhdfour, 'timm': _peer_timm, 'llformer': _peer_llformer, 'edt': _peer_edt,
         'espcn': _peer_espcn}


def _peer_step(case: dict, threads: int, paths: dict):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    path = paths.get(case['peer'])
    if not path:
        raise ValueError(f"--peer gives no {case['peer']} checkout")
    if case['peer'] == 'edt':
        return _peer_edt(case, path, paths.get('timm'))
    return PEERS[case['peer']](case, path)


# ----------------------------------------------------------------------------------------- the child
def _build(spec: dict, impl: str):
    case = spec['case']
    return _ppuhd_step(case, spec['threads']) if impl == 'ppuhd' else _peer_step(case, spec['threads'], spec['peer'])


def _warm_up(run, steps: int) -> float:
    """``steps`` untimed steps (at least 1); the last one's duration."""
    last, loss = 0.0, None
    for _ in range(max(1, steps)):
        start = time.perf_counter()
        loss = float(run())
        last = time.perf_counter() - start
    if not np.isfinite(loss):
        raise FloatingPointError(f'non-finite loss {loss} in the warm-up')
    return last


def _sample(run, k: int) -> float:
    start = time.perf_counter()
    for _ in range(k):
        run()
    return (time.perf_counter() - start) / k


def run_case(spec: dict) -> dict:
    """Inside the child process. ``impl`` ppuhd or peer: build, warm up, time ``repeats`` samples of k steps
    (k so that a sample lasts ``min_sample`` s), report the median step and the process's peak RSS.
    ``impl`` pair: both steps in this one process, their samples alternating (ours, peer, ours, ...), so that
    both see the same load from other jobs; the ratio is the median of the per-pair ratios. Peak RSS means
    nothing there (two frameworks in one process): it comes from the single-implementation children."""
    load_start = os.getloadavg()
    impls = ('ppuhd', 'peer') if spec['impl'] == 'pair' else (spec['impl'],)
    runs, ks, base_rss, peaks = {}, {}, None, {}
    for impl in impls:
        runs[impl] = _build(spec, impl)
        base_rss = _rss_mb() if base_rss is None else base_rss
        ks[impl] = max(1, int(np.ceil(spec['min_sample'] / max(_warm_up(runs[impl], spec['warmup']), 1e-6))))
        peaks[impl] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = {impl: [] for impl in impls}
    for _ in range(spec['repeats']):
        for impl in impls:
            times[impl].append(_sample(runs[impl], ks[impl]))
    out = {**_key(spec), 'samples': spec['repeats'], 'load_start': load_start, 'load_end': os.getloadavg()}
    for impl in impls:
        out[impl] = {}
        if times[impl]:  # repeats 0: a memory-only child
            step = statistics.median(times[impl])
            out[impl] = {'step_s': step, 'min_s': min(times[impl]), 'images_per_s': spec['case']['batch'] / step,
                         'steps_per_sample': ks[impl], 'times': times[impl]}
    if spec['impl'] == 'pair':
        out['ratio'] = statistics.median(p / o for o, p in zip(times['ppuhd'], times['peer']))
    else:
        out[impls[0]].update(peak_rss_mb=peaks[impls[0]], train_rss_mb=peaks[impls[0]] - base_rss)
    return out


def _key(spec: dict) -> dict:
    case = spec['case']
    return {'case': case['name'], 'batch': case['batch'], 'crop': case['crop'], 'impl': spec['impl'],
            'threads': spec['threads'], 'round': spec.get('round', 0)}


def _child(spec: dict, timeout: float) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(spec['threads']), GLOG_minloglevel='2')
    try:
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), '--child', json.dumps(spec)],
                              capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {**_key(spec), 'error': f'timed out after {timeout:.0f} s'}
    lines = [line for line in proc.stdout.splitlines() if line.startswith('{')]
    if proc.returncode != 0 or not lines:
        reason = (proc.stderr.strip().splitlines() or [f'exit {proc.returncode}'])[-1]
        return {**_key(spec), 'error': reason[:300]}
    return json.loads(lines[-1])


# ---------------------------------------------------------------------------------------- reporting
def _measurements(results: list):
    """(case, batch, impl, round, figures) of every successful child, a pair child giving two."""
    for r in results:
        for impl in IMPLS:
            if impl in r:
                yield r['case'], r['batch'], impl, r['round'], r[impl], r['load_start'][0]


def summarize(results: list) -> list:
    """One row per (case, batch, impl): median step over rounds, peak RSS from the single-implementation run."""
    rows = {}
    for case, batch, impl, _, fig, load in _measurements(results):
        row = rows.setdefault((case, batch, impl), {'case': case, 'batch': batch, 'impl': impl, 'steps': [],
                                                    'load_start': []})
        if 'peak_rss_mb' in fig:
            row.update(peak_rss_mb=fig['peak_rss_mb'], train_rss_mb=fig['train_rss_mb'])
        if 'images_per_s' in fig:
            row['steps'].append(fig['step_s'])
            row['load_start'].append(load)
    out = []
    for row in rows.values():
        steps = row.pop('steps')
        row['rounds'] = len(steps)
        if steps:
            row['step_s'] = statistics.median(steps)
            row['images_per_s'] = row['batch'] / row['step_s']
        out.append(row)
    failed = {(r['case'], r['batch'], r['impl']): r['error'] for r in results if 'error' in r}
    out += [{'case': c, 'batch': b, 'impl': i, 'error': e} for (c, b, i), e in failed.items()]
    return out


def ratios(results: list) -> list:
    """Per case: our throughput / the peer's from the pair children (one value per round, each the median
    of the alternating samples of that child)."""
    out = []
    for case, batch in dict.fromkeys((r['case'], r['batch']) for r in results):
        per_round = [r['ratio'] for r in results if (r['case'], r['batch']) == (case, batch) and 'ratio' in r]
        if per_round:
            out.append({'case': case, 'batch': batch, 'throughput_ratio': statistics.median(per_round),
                        'per_round': per_round})
    return out


def markdown(rows: list, found: list, machine: dict, command: str) -> str:
    lines = [f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['threads']} threads, "
             f"load average at start {', '.join(f'{v:.2f}' for v in machine['load_avg'])} ({machine['date_utc']} UTC).",
             f'Command: `{command}`', '',
             '| case | batch | impl | median step (s) | images/s | peak RSS (MB) | RSS added by training (MB) | '
             '1-min load before each run |',
             '|---|---:|---|---:|---:|---:|---:|---|']
    for r in rows:
        if 'error' in r:
            lines.append(f"| {r['case']} | {r['batch']} | {r['impl']} | failed: {r['error']} | | | | |")
            continue
        load = ', '.join(f'{v:.1f}' for v in r['load_start'])
        rss = (f"{r['peak_rss_mb']:.0f} | {r['train_rss_mb']:.0f}" if 'peak_rss_mb' in r else ' | ')
        speed = f"{r['step_s']:.3f} | {r['images_per_s']:.2f}" if 'step_s' in r else ' | '
        lines.append(f"| {r['case']} | {r['batch']} | {r['impl']} | {speed} | {rss} | {load} |")
    for q in found:
        rounds = ', '.join(f'{v:.2f}' for v in q['per_round'])
        lines.append(f"- {q['case']} (batch {q['batch']}): ppuhd {q['throughput_ratio']:.2f}x the official PyTorch "
                     f"training throughput (median of alternating samples; per round: {rounds})")
    return '\n'.join(lines) + '\n'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--cases', default=','.join(DEFAULT_CASES),
                   help='comma-separated, each name or name:b<batch>; names: ' + ', '.join(CASES))
    p.add_argument('--impls', default=None, help='ppuhd, peer (default: ppuhd, and peer when --peer is given)')
    p.add_argument('--peer', default=None, help='official checkouts: a folder of them, or name=path pairs')
    p.add_argument('--threads', type=int, default=os.cpu_count() or 1)
    p.add_argument('--warmup', type=int, default=2, help='untimed steps first (at least 1)')
    p.add_argument('--repeats', type=int, default=5, help='timed samples')
    p.add_argument('--min-sample', type=float, default=1.0, help='seconds per timed sample (k steps each)')
    p.add_argument('--rounds', type=int, default=1, help='run everything this many times, interleaved')
    p.add_argument('--json', default='output/train_throughput.json')
    p.add_argument('--markdown', default='output/train_throughput.md')
    p.add_argument('--timeout', type=float, default=1800, help='seconds per child')
    p.add_argument('--profile', default=None, metavar='DIR',
                   help='instead of timing: profile our step of the first case (paddle.profiler, op summary '
                        'printed, trace written to DIR)')
    p.add_argument('--profile-steps', type=int, default=2, help='steps profiled with --profile')
    p.add_argument('--child', default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def profile(case: dict, threads: int, steps: int, out_dir: str) -> None:
    """paddle.profiler over ``steps`` of our step (after 2 warm-up steps): the operator summary sorted by CPU
    time (forward ops and their ``*GradNode`` backward) is printed; the Chrome trace goes to ``out_dir``."""
    import paddle.profiler as profiler
    run = _ppuhd_step(case, threads)
    _warm_up(run, 2)
    prof = profiler.Profiler(targets=[profiler.ProfilerTarget.CPU], scheduler=(0, steps),
                             on_trace_ready=profiler.export_chrome_tracing(out_dir))
    prof.start()
    for _ in range(steps):
        run()
        prof.step()
    prof.stop()
    prof.summary(sorted_by=profiler.SortedKeys.CPUTotal, op_detail=False, thread_sep=False, time_unit='ms')


def _children(impls: list, rnd: int) -> list:
    """Ours alone: one child that times and measures memory. With the peer: one pair child per round (both
    timed, alternating, in one process) and, in the first round, one child per implementation for peak RSS."""
    if 'peer' not in impls:
        return list(impls)
    return (list(impls) if rnd == 0 else []) + ['pair']


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_case(json.loads(args.child))))
        return 0
    try:
        cases = [parse_case(c) for c in args.cases.split(',') if c]
        paths = parse_peer(args.peer) if args.peer else {}
    except ValueError as err:
        print(f'train_throughput: {err}', file=sys.stderr)
        return 2
    if args.profile:
        os.environ.setdefault('OMP_NUM_THREADS', str(args.threads))
        profile(cases[0], args.threads, args.profile_steps, args.profile)
        return 0
    impls = [i for i in (args.impls or ('ppuhd,peer' if args.peer else 'ppuhd')).split(',') if i]
    if not cases or [i for i in impls if i not in IMPLS] or args.rounds < 1 or args.repeats < 1:
        print(f'train_throughput: give at least one case, impls from {IMPLS}, --rounds and --repeats >= 1',
              file=sys.stderr)
        return 2
    if 'peer' in impls and not args.peer:
        print('train_throughput: the peer runs the official PyTorch code: add --peer (see --help)', file=sys.stderr)
        return 2
    machine = machine_info(args.threads)
    results = []
    for rnd in range(args.rounds):
        for case in cases:
            for impl in _children(impls, rnd):
                spec = {'case': case, 'impl': impl, 'threads': args.threads, 'peer': paths, 'round': rnd,
                        'warmup': args.warmup, 'repeats': args.repeats, 'min_sample': args.min_sample}
                if impl != 'pair' and 'peer' in impls:  # memory only: the pair child times both
                    spec.update(repeats=0)
                results.append(_child(spec, args.timeout))
                print(json.dumps(results[-1]), flush=True)
    rows, found = summarize(results), ratios(results)
    command = 'python benchmarks/train_throughput.py ' + ' '.join(argv if argv is not None else sys.argv[1:])
    table = markdown(rows, found, machine, command)
    print('\n' + table)
    for path, text in ((args.json, json.dumps({'machine': machine, 'results': results, 'summary': rows,
                                               'ratios': found}, indent=2)), (args.markdown, table)):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
