"""The notebooks in notebooks/ run top to bottom, and are stored without outputs.

They execute in a kernel of this Python (cwd notebooks/, as in AI Studio) with
PPUHD_NOTEBOOK_QUICK=1, which each notebook reads to shrink its iteration counts and image
sizes; the executed copies are never written back. Artifacts go to output/notebooks/ (git-ignored).
"""
import glob
import json
import os
import sys

import pytest

from conftest import ROOT

NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, 'notebooks', '*.ipynb')))


def test_there_are_three_notebooks():
    assert [os.path.basename(p) for p in NOTEBOOKS] == [
        '01_uhdfour_quickstart.ipynb', '02_deit_distillation.ipynb', '03_llformer_uhd_tiling.ipynb']


@pytest.mark.parametrize('path', NOTEBOOKS, ids=os.path.basename)
def test_notebook_is_stored_without_outputs(path):
    with open(path, encoding='utf-8') as f:
        cells = json.load(f)['cells']
    stale = [i for i, c in enumerate(cells) if c['cell_type'] == 'code' and (c['outputs'] or c['execution_count'])]
    assert not stale, f'{os.path.basename(path)}: cells {stale} carry outputs; clear them before committing'


@pytest.fixture(scope='module')
def kernel_env(tmp_path_factory):
    """A kernelspec that runs this interpreter (the venv), whatever 'python3' means on PATH."""
    from ipykernel.kernelspec import install
    prefix = str(tmp_path_factory.mktemp('kernel'))
    install(prefix=prefix, kernel_name='ppuhd-test')
    spec = os.path.join(prefix, 'share', 'jupyter', 'kernels', 'ppuhd-test', 'kernel.json')
    with open(spec) as f:
        kernel = json.load(f)
    kernel['argv'][0] = sys.executable
    with open(spec, 'w') as f:
        json.dump(kernel, f)
    old = {k: os.environ.get(k) for k in ('JUPYTER_PATH', 'PPUHD_NOTEBOOK_QUICK')}
    os.environ['JUPYTER_PATH'] = os.path.join(prefix, 'share', 'jupyter')
    os.environ['PPUHD_NOTEBOOK_QUICK'] = '1'
    yield 'ppuhd-test'
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.mark.parametrize('path', NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, kernel_env):
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name=kernel_env, timeout=900,
                            resources={'metadata': {'path': os.path.dirname(path)}})
    client.execute()  # raises CellExecutionError naming the failing cell
    first = ''.join(o.get('text', '') for o in nb.cells[1].outputs)
    assert sys.executable in first  # the notebook ran in this environment
