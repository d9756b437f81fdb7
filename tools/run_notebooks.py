"""Execute the notebooks top to bottom and store them with their outputs (``make notebooks``).

    python tools/run_notebooks.py                                      # every notebooks/*.ipynb, written back
    python tools/run_notebooks.py notebooks/04_super_resolution.ipynb  # one notebook
    python tools/run_notebooks.py --quick --check                      # quick settings, compare, write nothing

Each notebook runs in a kernel of this Python (cwd ``notebooks/``, as in AI Studio), with the normal settings
or, with ``--quick``, ``PPUHD_NOTEBOOK_QUICK=1`` (smaller iteration counts and images: what the tests run).
A stored run records, in each code cell's metadata, the sha256 of the source it ran, so a cell edited after the
run is found (``--check`` and tests/test_notebooks.py compare the cells, their sources and the kinds of their
outputs with a fresh run; the values differ between runs and settings, their structure must not).
"""
import argparse
import contextlib
import glob
import hashlib
import json
import os
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
KERNEL = 'ppuhd-notebooks'


def source_sha(cell) -> str:
    return hashlib.sha256(''.join(cell['source']).encode('utf-8')).hexdigest()


def output_kinds(cell) -> list:
    """The sorted kinds of a code cell's outputs: 'stream' (stdout and stderr alike, however they are split),
    'error', and 'display_data:<mime>' / 'execute_result:<mime>' for each MIME type of a rich output."""
    kinds = set()
    for out in cell.get('outputs', []):
        if out['output_type'] in ('stream', 'error'):
            kinds.add(out['output_type'])
        else:
            kinds.update(f"{out['output_type']}:{mime}" for mime in out.get('data', {}))
    return sorted(kinds)


def structure(nb) -> list:
    """What a stored run and a fresh run must share: each cell's type, source and output kinds."""
    return [(c['cell_type'], ''.join(c['source']), output_kinds(c) if c['cell_type'] == 'code' else None)
            for c in nb['cells']]


def stale_cells(nb) -> list:
    """Code cells of a stored notebook whose outputs are not from a run of their current source (an edit after
    the run, a cell never run, or a run out of order)."""
    code = [c for c in nb['cells'] if c['cell_type'] == 'code']
    return [i for i, c in enumerate(code)
            if c.get('execution_count') != i + 1 or c.get('metadata', {}).get('ppuhd', {}).get('source_sha256')
            != source_sha(c)]


def structure_diff(stored, fresh) -> list:
    """Human-readable differences between two runs' structures (empty when they agree)."""
    a, b = structure(stored), structure(fresh)
    if [x[:2] for x in a] != [y[:2] for y in b]:
        return ['the cells differ (their number, types or sources)']
    return [f'cell {i}: stored outputs {x[2]}, the fresh run gives {y[2]}'
            for i, (x, y) in enumerate(zip(a, b)) if x[2] != y[2]]


@contextlib.contextmanager
def kernel(quick: bool):
    """A kernelspec that runs this interpreter (whatever 'python3' means on PATH), the quick switch set."""
    from ipykernel.kernelspec import install
    with tempfile.TemporaryDirectory(prefix='ppuhd_kernel_') as prefix:
        install(prefix=prefix, kernel_name=KERNEL)
        spec = os.path.join(prefix, 'share', 'jupyter', 'kernels', KERNEL, 'kernel.json')
        with open(spec) as f:
            kernel_json = json.load(f)
        kernel_json['argv'][0] = sys.executable
        with open(spec, 'w') as f:
            json.dump(kernel_json, f)
        old = {k: os.environ.get(k) for k in ('JUPYTER_PATH', 'PPUHD_NOTEBOOK_QUICK')}
        os.environ['JUPYTER_PATH'] = os.path.join(prefix, 'share', 'jupyter')
        os.environ.pop('PPUHD_NOTEBOOK_QUICK', None)
        if quick:
            os.environ['PPUHD_NOTEBOOK_QUICK'] = '1'
        try:
            yield KERNEL
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def execute(path: str, kernel_name: str, timeout: int = 1800):
    """The notebook at ``path`` executed (raises CellExecutionError naming the failing cell), each code cell
    stamped with the sha256 of the source it ran; the stored kernelspec is kept."""
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(path, as_version=4)
    kernelspec = nb.metadata.get('kernelspec')
    NotebookClient(nb, kernel_name=kernel_name, timeout=timeout, record_timing=False,
                   resources={'metadata': {'path': os.path.dirname(os.path.abspath(path))}}).execute()
    if kernelspec is not None:
        nb.metadata['kernelspec'] = kernelspec
    for cell in nb.cells:
        if cell.cell_type == 'code':
            cell.metadata['ppuhd'] = {'source_sha256': source_sha(cell)}
    return nb


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('notebooks', nargs='*', help='notebooks to run (default: notebooks/*.ipynb)')
    p.add_argument('--quick', action='store_true', help='PPUHD_NOTEBOOK_QUICK=1: the settings the tests run')
    p.add_argument('--check', action='store_true',
                   help='write nothing; exit 1 when a stored notebook is stale or its structure differs from the run')
    return p.parse_args(argv)


def main(argv=None) -> int:
    import nbformat
    args = parse_args(argv)
    paths = args.notebooks or sorted(glob.glob(os.path.join(ROOT, 'notebooks', '*.ipynb')))
    failed = 0
    with kernel(args.quick) as kernel_name:
        for path in paths:
            print(f'running {path} ({"quick" if args.quick else "normal"} settings)', flush=True)
            start = time.perf_counter()
            nb = execute(path, kernel_name)
            print(f'ran {path} in {time.perf_counter() - start:.0f} s', flush=True)
            if not args.check:
                nbformat.write(nb, path)
                print(f'wrote {path}')
                continue
            stored = nbformat.read(path, as_version=4)
            stale = stale_cells(stored)
            problems = ([f'code cells {stale} were not run from their current source'] if stale else []) + \
                structure_diff(stored, nb)
            for line in problems:
                print(f'{path}: {line}')
            failed += bool(problems)
    if failed:
        print(f'{failed} notebook(s) out of date: regenerate with `make notebooks`', file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
