"""benchmarks/train_throughput.py: a real (tiny) run of our training step, and its argument errors."""
import json
import os
import subprocess
import sys

from conftest import ROOT

SCRIPT = os.path.join(ROOT, 'benchmarks', 'train_throughput.py')


def _run(*args, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_one_case_reports_throughput_memory_and_machine(tmp_path):
    out = tmp_path / 'r.json'
    proc = _run('--cases', 'espcn_x3@17:b2', '--threads', '1', '--warmup', '1', '--repeats', '2',
                '--min-sample', '0', '--json', str(out), '--markdown', str(tmp_path / 'r.md'))
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    (row,) = report['summary']
    assert row['case'] == 'espcn_x3@17' and row['batch'] == 2 and row['impl'] == 'ppuhd'
    assert row['images_per_s'] > 0 and row['peak_rss_mb'] > row['train_rss_mb'] > 0
    (child,) = report['results']
    assert len(child['ppuhd']['times']) == 2 and child['ppuhd']['steps_per_sample'] == 1
    assert report['machine']['threads'] == 1 and report['ratios'] == []
    assert '| espcn_x3@17 | 2 | ppuhd |' in (tmp_path / 'r.md').read_text()


def test_bad_arguments_are_one_clear_error():
    proc = _run('--cases', 'nosuch@1')
    assert proc.returncode == 2 and 'unknown case' in proc.stderr and 'uhdfour@128' in proc.stderr
    proc = _run('--cases', 'espcn_x3@17', '--impls', 'peer')
    assert proc.returncode == 2 and 'add --peer' in proc.stderr
    proc = _run('--peer', 'foo=/x')
    assert proc.returncode == 2 and 'unknown names' in proc.stderr
