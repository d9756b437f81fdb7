"""The official IPT (huawei-noah/Pretrained-IPT) on CPU, shared by the ``ipt_*`` golden cases and
``benchmarks/ipt_chop.py``.

The official test path is CUDA-only: ``Model.forward_chop`` (``model/__init__.py``) calls ``.cuda()`` on
tensors (``x_hw_cut.cuda()``, ``y.cuda()``, and ``x_unfold.cuda()`` whose result it discards) and runs the
tile batches through ``P.data_parallel(self.model, batch, range(self.n_GPUs))``, which torch 2.13 refuses
without a GPU. :func:`on_cpu` turns both into CPU no-ops for the duration of a call, at run time and
without touching the files: ``Tensor.cuda`` returns the tensor, and ``data_parallel`` calls the module,
which is what one-GPU ``data_parallel`` does. Nothing else of the official code is changed.

``Model`` is built by its own ``__init__`` with the arguments of ``option.py`` (parsed from the given
command line, ``--cpu`` added) and a stand-in for ``utility.checkpoint`` (no file is read: ``resume`` is 0
and ``pre_train`` empty, so ``Model.load`` loads nothing).
"""
import contextlib
import io
import os
import sys
import tempfile
from types import SimpleNamespace

FILES = ('model/__init__.py', 'model/ipt.py', 'model/common.py', 'option.py')


def _import_official(root: str):
    """The official ``model`` package and ``option`` module of the checkout ``root`` (imported from there)."""
    for rel in FILES:
        if not os.path.isfile(os.path.join(root, rel)):
            raise FileNotFoundError(f'{os.path.join(root, rel)} not found: give a checkout of '
                                    'https://github.com/huawei-noah/Pretrained-IPT')
    if root not in sys.path:
        sys.path.insert(0, root)
    import model as official_model
    if os.path.realpath(os.path.dirname(official_model.__file__)) != os.path.realpath(os.path.join(root, 'model')):
        raise RuntimeError(f'a module named "model" from {official_model.__file__} shadows {root}/model')
    return official_model


def official_args(root: str, argv):
    """``option.args`` for ``python main.py ARGV --cpu`` (option.py parses ``sys.argv`` when imported)."""
    import importlib.util
    saved = sys.argv
    sys.argv = ['main.py', *argv, '--cpu']
    try:
        spec = importlib.util.spec_from_file_location('official_ipt_option', os.path.join(root, 'option.py'))
        option = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(option)
    finally:
        sys.argv = saved
    return option.args


class _Checkpoint:
    """What ``Model.__init__`` uses of ``utility.checkpoint``: a model folder and a log file."""

    def __init__(self):
        self.log_file = io.StringIO()
        self._dir = tempfile.mkdtemp(prefix='ipt_official_')

    def get_path(self, *subdir):
        return os.path.join(self._dir, *subdir)


def build(root: str, argv):
    """The official ``Model`` wrapper (``forward`` = ``forward_chop`` in eval mode) for ``main.py ARGV``."""
    official_model = _import_official(root)
    args = official_args(root, argv)
    with contextlib.redirect_stdout(io.StringIO()):  # 'Making model...'
        wrapper = official_model.Model(args, _Checkpoint())
    return wrapper


@contextlib.contextmanager
def on_cpu():
    """``Tensor.cuda`` and ``data_parallel`` as CPU no-ops inside the block (module docstring)."""
    import torch
    official_model = sys.modules['model']
    saved_cuda, saved_p = torch.Tensor.cuda, official_model.P
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    official_model.P = SimpleNamespace(data_parallel=lambda module, inputs, device_ids=None: module(inputs))
    try:
        yield
    finally:
        torch.Tensor.cuda, official_model.P = saved_cuda, saved_p


def chop(wrapper, x, task_index: int = 0):
    """The official test-time output for ``x`` (RGB 0..255): ``Model.forward(x, idx)`` in eval mode, i.e.
    ``set_scale(idx)`` and ``forward_chop``."""
    import torch
    wrapper.eval()
    with on_cpu(), torch.no_grad():
        return wrapper(x, task_index)
