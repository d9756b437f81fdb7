"""The notebooks in notebooks/ are stored with the outputs of a real run, and still run top to bottom.

``make notebooks`` (tools/run_notebooks.py) executes them with the normal settings and writes them back, each
code cell stamped with the sha256 of the source it ran. Here they execute in a kernel of this Python (cwd
notebooks/, as in AI Studio) with PPUHD_NOTEBOOK_QUICK=1, which each notebook reads to shrink its iteration
counts and image sizes; the executed copies are never written back, but their structure (cells, sources, the
kinds of outputs: text, figures, errors) must be the stored one. Artifacts go to output/notebooks/ (git-ignored).
"""
import glob
import importlib.util
import os
import sys

import pytest

from conftest import ROOT

NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, 'notebooks', '*.ipynb')))
_spec = importlib.util.spec_from_file_location('run_notebooks', os.path.join(ROOT, 'tools', 'run_notebooks.py'))
run_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_notebooks)


def _read(path):
    import nbformat
    return nbformat.read(path, as_version=4)


def test_there_are_four_notebooks():
    assert [os.path.basename(p) for p in NOTEBOOKS] == [
        '01_uhdfour_quickstart.ipynb', '02_deit_distillation.ipynb', '03_llformer_uhd_tiling.ipynb',
        '04_super_resolution.ipynb']


@pytest.mark.parametrize('path', NOTEBOOKS, ids=os.path.basename)
def test_notebook_is_stored_with_the_outputs_of_a_normal_run(path):
    nb = _read(path)
    stale = run_notebooks.stale_cells(nb)
    assert not stale, f'{os.path.basename(path)}: code cells {stale} were not run from their current source: ' \
                      f'regenerate with `make notebooks`'
    code = [c for c in nb.cells if c.cell_type == 'code']
    errors = [i for i, c in enumerate(code) if 'error' in run_notebooks.output_kinds(c)]
    assert not errors, f'{os.path.basename(path)}: code cells {errors} stored with an error'
    first = ''.join(o.get('text', '') for o in code[0].outputs)
    assert first.rstrip().endswith('normal'), 'stored from a quick run: regenerate with `make notebooks`'
    assert any(k.endswith('image/png') for c in code for k in run_notebooks.output_kinds(c)), 'no stored figure'


def test_the_staleness_check_can_fail():
    """An edited cell and an output kind a fresh run no longer makes are both caught."""
    nb = _read(NOTEBOOKS[0])
    edited = _read(NOTEBOOKS[0])
    cell = next(c for c in edited.cells if c.cell_type == 'code')
    cell.source += '\n# edited'
    assert run_notebooks.stale_cells(edited) == [0]
    fresh = _read(NOTEBOOKS[0])
    next(c for c in fresh.cells if c.cell_type == 'code').outputs = []
    assert run_notebooks.structure_diff(nb, fresh) and not run_notebooks.structure_diff(nb, _read(NOTEBOOKS[0]))


@pytest.fixture(scope='module')
def quick_kernel():
    with run_notebooks.kernel(quick=True) as name:
        yield name


@pytest.mark.parametrize('path', NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs_and_matches_the_stored_structure(path, quick_kernel):
    fresh = run_notebooks.execute(path, quick_kernel, timeout=900)  # raises CellExecutionError naming the cell
    first = ''.join(o.get('text', '') for o in fresh.cells[1].outputs)
    assert sys.executable in first and first.rstrip().endswith('quick')  # ran in this environment, quick settings
    diff = run_notebooks.structure_diff(_read(path), fresh)
    assert not diff, f'{os.path.basename(path)}: {diff}; regenerate with `make notebooks`'
