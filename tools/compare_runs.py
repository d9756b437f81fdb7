"""Compare groups of evaluation results (the ``eval.json`` files ``tools/eval.py`` writes).

Each group is ``label=file[,file...]`` (shell globs are expanded by the shell, or here when quoted); the table
gives every metric's mean over the group's files, its spread (sample standard deviation and min..max) and the
difference of the means from the ``--baseline`` group. The demos use it for their claims over seeds::

    python tools/compare_runs.py --metric top1 --baseline none \\
        none='output/deit_demo_student_none_s*/eval.json' hard='output/deit_demo_student_hard_s*/eval.json'
"""
import argparse
import glob
import json
import math
import os
import sys
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppuhd.utils.fileio import atomic_write_text  # noqa: E402


def parse_group(spec: str) -> tuple:
    label, sep, files = spec.partition('=')
    if not sep or not label or not files:
        raise SystemExit(f'group {spec!r}: expected label=file[,file...] (e.g. hard=output/run_s0/eval.json)')
    paths: List[str] = []
    for pattern in files.split(','):
        found = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not found:
            raise SystemExit(f'group {label!r}: no file matches {pattern!r} (run tools/eval.py --json first)')
        paths.extend(found)
    return label, paths


def read_means(path: str) -> Dict[str, float]:
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except OSError as e:
        raise SystemExit(f'{path}: cannot read it ({e.strerror}); run tools/eval.py --json {path} first')
    except json.JSONDecodeError as e:
        raise SystemExit(f'{path}: not JSON ({e}); expected the file tools/eval.py --json writes')
    mean = data.get('mean') if isinstance(data, dict) else None
    if not isinstance(mean, dict):
        raise SystemExit(f'{path}: no "mean" metrics; expected the file tools/eval.py --json writes')
    return {k: float(v) for k, v in mean.items() if isinstance(v, (int, float))}


def summarize(values: Sequence[float]) -> Dict[str, float]:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {'mean': mean, 'std': std, 'min': min(values), 'max': max(values), 'n': n}


def compare(groups: Dict[str, List[str]], metrics: Optional[Sequence[str]] = None,
            baseline: Optional[str] = None) -> Dict[str, Dict]:
    """label -> {'files': [...], 'metrics': {metric: summary (+ 'delta' from the baseline's mean)}}."""
    if baseline is not None and baseline not in groups:
        raise SystemExit(f'--baseline {baseline!r} is not one of the groups {sorted(groups)}')
    runs = {label: {p: read_means(p) for p in paths} for label, paths in groups.items()}
    common = set.intersection(*(set(m) for per_file in runs.values() for m in per_file.values()))
    chosen = list(metrics) if metrics else sorted(common)
    for name in chosen:
        if name not in common:
            missing = [p for per_file in runs.values() for p, m in per_file.items() if name not in m]
            raise SystemExit(f'metric {name!r} is missing from {", ".join(missing)} (has: {sorted(common)})')
    out: Dict[str, Dict] = {}
    for label, per_file in runs.items():
        out[label] = {'files': list(per_file), 'metrics': {
            name: summarize([m[name] for m in per_file.values()]) for name in chosen}}
    if baseline is not None:
        for label in out:
            for name, s in out[label]['metrics'].items():
                s['delta'] = s['mean'] - out[baseline]['metrics'][name]['mean']
    return out


def table(result: Dict[str, Dict], baseline: Optional[str]) -> str:
    lines = ['| run | n | metric | mean | std | min .. max |' + (f' vs {baseline} |' if baseline else ''),
             '|---|---:|---|---:|---:|---|' + ('---:|' if baseline else '')]
    for label, group in result.items():
        for name, s in group['metrics'].items():
            row = f'| {label} | {s["n"]} | {name} | {s["mean"]:.4f} | {s["std"]:.4f} | {s["min"]:.4f} .. {s["max"]:.4f} |'
            if baseline:
                row += f' {s["delta"]:+.4f} |'
            lines.append(row)
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('groups', nargs='+', help='label=file[,file...] (globs allowed), one per group')
    parser.add_argument('--metric', action='append', default=None, help='metric to compare (repeatable; default all)')
    parser.add_argument('--baseline', default=None, help='label of the group the others are compared with')
    parser.add_argument('--json', default=None, help='also write the summary here')
    args = parser.parse_args(argv)
    groups: Dict[str, List[str]] = {}
    for spec in args.groups:
        label, paths = parse_group(spec)
        if label in groups:
            raise SystemExit(f'group {label!r} given twice')
        groups[label] = paths
    result = compare(groups, args.metric, args.baseline)
    print(table(result, args.baseline))
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
