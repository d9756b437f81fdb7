"""Regenerate a golden parity file from the official code: ``tests/golden/<case>.npz`` (no weights inside).

    python tests/golden/make_golden.py --case uhdfour --official /path/to/UHDFour_code
    python tests/golden/make_golden.py --case vit_tiny_patch16_224 --timm-src /path/to/timm-1.0.31
    python tests/golden/make_golden.py --case deit_tiny_distilled_patch16_224 --official /path/to/deit \
        --timm-src /path/to/timm-0.3.2

Builds the official PyTorch model of the case (``tests/golden/cases/<case>.py``), replaces every tensor of its
state dict by the seeded rule of ``tests/golden/rule.py``, runs it on uint8 noise images from the same seed and
writes the tensor list (names as the official checkpoints spell them, shapes, dtypes, kinds), the inputs, the
outputs, the official outputs' own noise floor under 1-ulp input noise and where the code came from (commit,
file hashes, timm version, this command). Needs torch (and what the official code imports); the test that
reads the file (``tests/test_golden.py``) needs neither torch nor the official code.
"""
import argparse
import datetime
import hashlib
import os
import platform
import shlex
import subprocess
import sys

import numpy as np

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TESTS)

from golden import cases, golden_file, rule  # noqa: E402

OPTIONS = {'official': '--official', 'timm': '--timm-src'}  # case SOURCES key -> option
MAX_NOISE_FLOOR = 1e-5  # the official outputs must be 10x steadier than the test's 1e-4 tolerance


def _sha256(path: str) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _git(path: str, *args: str):
    """Output of ``git -C path args``, None when it fails."""
    proc = subprocess.run(['git', '-C', path, *args], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def _commit(path: str):
    """HEAD of the git checkout whose top level is ``path`` (not of a repository enclosing it), else None."""
    top = _git(path, 'rev-parse', '--show-toplevel')
    if top is None or os.path.realpath(top) != os.path.realpath(path):
        return None
    return _git(path, 'rev-parse', 'HEAD')


def provenance(case, sources: dict) -> dict:
    """Per source: commit (git checkouts), sha256 of the files the case names, timm version."""
    out = {}
    for source, path in sources.items():
        record = {}
        commit = _commit(path)
        if commit:
            record['commit'] = commit
        for rel in getattr(case, 'FILES', {}).get(source, ()):
            if commit and _git(path, 'status', '--porcelain', '--', rel) != '':
                raise SystemExit(f'{os.path.join(path, rel)} differs from commit {commit}: golden outputs must come '
                                 'from unmodified official code')
            record.setdefault('files', {})[rel] = _sha256(os.path.join(path, rel))
        if source == 'timm':
            record['version'] = sys.modules['timm'].__version__
        out[source] = record
    return out


def _load_rule_weights(torch, net, entries, seed, fixed, prefix):
    """Fill ``net`` with ``rule.state_dict`` and check every tensor took its own value (no tied weights)."""
    state = rule.state_dict(entries, seed, fixed)
    net.load_state_dict({k[len(prefix):]: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    for key, value in net.state_dict().items():
        if not np.array_equal(value.numpy(), state[prefix + key]):
            raise RuntimeError(f'{key} did not keep its generated value after loading: the official model ties it '
                               'to another tensor; declare it in the case (FIXED) or untie it')


def reachable_params(torch, net, forward) -> int:
    """Parameters that get a gradient from the outputs of ``forward()`` (the official model on the case's
    inputs): what a faithful port must have."""
    with torch.enable_grad():
        result = forward()
        result = result if isinstance(result, (tuple, list)) else (result,)
        sum(t.sum() for t in result).backward()
    count = sum(p.numel() for p in net.parameters() if p.grad is not None)
    net.zero_grad(set_to_none=True)
    return int(count)


def noise_floor(torch, case, net, model_inputs, ref, trials=4):
    """Largest rel. L2 move of each official output under 1e-7 multiplicative (about 1 ulp) input noise."""
    rng = np.random.default_rng(0)
    floor = {name: 0.0 for name in ref}
    for _ in range(trials):
        noisy = {k: torch.from_numpy((v * (1 + 1e-7 * rng.standard_normal(v.shape))).astype(np.float32))
                 for k, v in model_inputs.items()}
        net.eval()
        with torch.no_grad():
            out = case.official_outputs(net, noisy)
        floor = {name: max(floor[name], golden_file.rel_l2(out[name], ref[name])) for name in ref}
    return floor


def make(case_name: str, sources: dict, out_path: str, argv) -> golden_file.Golden:
    import torch
    case = cases.load(case_name)
    missing = [f'{OPTIONS[s]} ({what})' for s, what in case.SOURCES.items() if not sources.get(s)]
    if missing:
        raise SystemExit(f'case {case_name} needs ' + ', '.join(missing))
    sources = {k: os.path.abspath(v) for k, v in sources.items() if k in case.SOURCES}
    seed, prefix, fixed_patterns = getattr(case, 'SEED', 0), getattr(case, 'PREFIX', ''), getattr(case, 'FIXED', ())

    torch.manual_seed(0)  # the official initialisation only decides the kinds (rule.classify); every value is replaced
    net = case.official_model(sources).eval()
    initial = {prefix + k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}
    entries = [(k, tuple(v.shape), str(v.dtype), rule.classify(k, v, fixed_patterns)) for k, v in initial.items()]
    fixed = {k: initial[k] for k, _, _, kind in entries if kind == 'fixed'}
    _load_rule_weights(torch, net, entries, seed, fixed, prefix)

    images = {name: rule.image_input(seed, name, shape) for name, shape in case.INPUTS.items()}
    model_inputs = {k: rule.to_model_input(v) for k, v in images.items()}
    with torch.no_grad():
        outputs = case.official_outputs(net, {k: torch.from_numpy(v) for k, v in model_inputs.items()})
    net.eval()  # in case official_outputs left train mode on
    outputs = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in outputs.items()}
    for name, value in outputs.items():
        if not np.isfinite(value).all() or not np.linalg.norm(value):
            raise RuntimeError(f'official output {name} is not finite or all zero: the weight rule breaks this model')
    floor = noise_floor(torch, case, net, model_inputs, outputs)
    tensors = {k: torch.from_numpy(v) for k, v in model_inputs.items()}

    def forward():  # the official call whose outputs decide the reachable parameters
        if hasattr(case, 'official_forward'):
            return case.official_forward(net, tensors)
        return net(tensors[next(iter(tensors))])

    meta = {
        'case': case_name, 'arch': case.ARCH, 'seed': seed, 'rule_version': rule.VERSION, 'prefix': prefix,
        'official': {'code': case.OFFICIAL, 'sources': provenance(case, sources)},
        'entries': [[k, list(s), d, kind] for k, s, d, kind in entries],
        'official_params': int(sum(p.numel() for p in net.parameters())),
        'reachable_params': reachable_params(torch, net, forward),
        'noise_floor': floor,
        'command': 'python tests/golden/make_golden.py ' + shlex.join(argv),
        'made_with': {'torch': torch.__version__, 'numpy': np.__version__, 'python': platform.python_version(),
                      'machine': platform.machine(), 'date': datetime.date.today().isoformat()},
    }
    golden = golden_file.Golden(meta=meta, inputs=images, outputs=outputs, fixed=fixed)
    too_noisy = {k: v for k, v in floor.items() if v > MAX_NOISE_FLOOR}
    if too_noisy:
        raise RuntimeError(f'official outputs move more than {MAX_NOISE_FLOOR:g} under 1-ulp input noise: {too_noisy}; '
                           'change the case INPUTS or SEED (UHDFour: sizes where no spectrum bin sits on the '
                           'branch cut of torch.angle)')
    golden_file.write(out_path, golden)
    kinds = {kind: sum(e[3] == kind for e in entries) for kind in rule.KINDS}
    print(f'{case_name}: {len(entries)} tensors {kinds}, {meta["official_params"]:,} official parameters '
          f'({meta["reachable_params"]:,} reachable)')
    for name, value in outputs.items():
        print(f'  {name} {list(value.shape)}: mean {value.mean():.4g} std {value.std():.4g}, '
              f'noise floor {floor[name]:.1e}')
    print(f'wrote {out_path} ({os.path.getsize(out_path) / 1024:.0f} KiB)')
    return golden


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--case', required=True, choices=cases.names(), help='a module of tests/golden/cases/')
    parser.add_argument('--official', default='', help='the official checkout the case needs (see its SOURCES)')
    parser.add_argument('--timm-src', default='', help='folder holding the timm package the case needs')
    parser.add_argument('--out', default='', help='output file (default: tests/golden/<case>.npz)')
    args = parser.parse_args(argv)
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), f'{args.case}.npz')
    make(args.case, {'official': args.official, 'timm': args.timm_src}, out,
         sys.argv[1:] if argv is None else list(argv))
    return 0


if __name__ == '__main__':
    sys.exit(main())
