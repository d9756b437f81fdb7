"""The official EDT code (fenglinglwb/EDT @f4b3b77) as the golden cases and ``tests/test_official_parity_edt.py``
run it: ``Network`` of ``utils/modules/edt.py`` built from a ``configs/<name>.py`` and ``test_sample.py``'s
test pipeline (flip-concatenation padding, the model on the list of inputs, crop).

``edt.py`` imports ``DropPath, to_2tuple, trunc_normal_`` from timm, whose wheel needs torchvision (which does
not import next to the local torch wheel here): without timm a three-name stand-in is installed (identity
DropPath, ``torch.nn.init.trunc_normal_``). Neither affects an eval forward (DropPath is the identity in eval
mode; the initialisation is replaced by the loaded weights). torch is imported by the functions, so a case
module importing this one imports without torch.
"""
import importlib
import os
import sys
import types

from . import import_file

FILES = ('utils/modules/edt.py', 'test_sample.py')  # the code that runs (plus the case's config file)


def install_timm_stand_in():
    """The three timm names ``edt.py`` imports, unless a timm that provides them is importable."""
    import torch
    try:
        importlib.import_module('timm.models.layers')
        return
    except ImportError:
        pass
    layers = types.ModuleType('timm.models.layers')

    class DropPath(torch.nn.Module):  # built only where drop_path > 0; the identity (eval, or no stochastic depth)
        def __init__(self, drop_prob=0.0):
            super().__init__()

        def forward(self, x):
            return x
    layers.DropPath = DropPath
    layers.to_2tuple = lambda x: tuple(x) if isinstance(x, (tuple, list)) else (x, x)
    layers.trunc_normal_ = torch.nn.init.trunc_normal_
    for name in ('timm', 'timm.models'):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules['timm.models.layers'] = layers


def config(checkout: str, name: str):
    """``Config`` of ``configs/<name>.py`` (needs easydict, as the official configs)."""
    return import_file(os.path.join(checkout, 'configs', f'{name}.py'), f'official_edt_config_{name}').Config


def network(checkout: str, config_name: str):
    """The official ``Network(Config)`` of a config; its config is kept as ``net.test_config`` for
    :func:`test_sample` (a plain attribute, not in the state dict)."""
    install_timm_stand_in()
    module = import_file(os.path.join(checkout, 'utils', 'modules', 'edt.py'), 'official_edt')
    cfg = config(checkout, config_name)
    net = module.Network(cfg)
    net.test_config = cfg
    return net


def lcm(a: int, b: int) -> int:  # test_sample.py's lcm of MODEL.WINDOW_SIZE
    return next(a * b // i for i in range(min(a, b), 0, -1) if a % i == 0 and b % i == 0)


def task_scales(cfg):
    """test_sample.py's scale per input: VAL.SCALES, then 1 per noise level and per rain level."""
    return list(cfg.VAL.SCALES) + [1] * (len(cfg.VAL.NOISE_LEVELS) + len(cfg.VAL.RAIN_LEVELS))


def test_sample(net, inputs, cfg=None):
    """test_sample.py's inference (its lines 147-168, without ``tensor2img``'s clamp and rounding) on a list of
    NCHW torch tensors, one per task: pad bottom/right by flip-concatenation to (h // m + 1) * m (m = lcm of the
    window, times 2 ** DEPTH for denoising/deraining), the model on the list, each output cropped to s x (h, w)."""
    import torch
    cfg = cfg if cfg is not None else net.test_config
    lqs, sizes = [], []
    for s, lq in zip(task_scales(cfg), inputs):
        _, _, h_old, w_old = lq.size()
        window = lcm(*cfg.MODEL.WINDOW_SIZE) * (1 if s > 1 else 2 ** cfg.MODEL.DEPTH)
        h_pad = (h_old // window + 1) * window - h_old
        w_pad = (w_old // window + 1) * window - w_old
        lq = torch.cat([lq, torch.flip(lq, [2])], 2)[:, :, :h_old + h_pad, :]
        lq = torch.cat([lq, torch.flip(lq, [3])], 3)[:, :, :, :w_old + w_pad]
        lqs.append(lq)
        sizes.append((h_old * s, w_old * s))
    return [pred[..., :h, :w] for pred, (h, w) in zip(net(lqs), sizes)]


# Golden cases: ``RUNS`` = input names per test_sample call (one per task, in the config's task order); output
# ``y<suffix>`` belongs to input ``x<suffix>``.
FIXED = (r'\.attn_mask_[hv]$',)  # the shifted blocks' -100/0 mask buffers of the 48x48 training size: constants
OFFICIAL_SOURCE = 'a checkout of https://github.com/fenglinglwb/EDT'


def output_name(input_name: str) -> str:
    return 'y' + input_name[1:]


def official_forward(net, inputs, runs):
    """Every run's outputs (torch tensors), in order."""
    return [y for run in runs for y in test_sample(net, [inputs[name] for name in run])]


def official_outputs(net, inputs, runs):
    names = [output_name(name) for run in runs for name in run]
    return {name: y.numpy() for name, y in zip(names, official_forward(net, inputs, runs))}


def our_outputs(model, inputs, runs):
    """The user's call: one tensor for a single-task model, the list of one input per task otherwise; only the
    runs whose inputs are all given (``MISTAKE_INPUTS``)."""
    out = {}
    for run in (r for r in runs if all(name in inputs for name in r)):
        result = model([inputs[name] for name in run]) if len(run) > 1 else [model(inputs[run[0]])]
        out.update({output_name(name): y.numpy() for name, y in zip(run, result)})
    return out


def case_functions(config_name: str, runs):
    """A case module's ``official_model``, ``official_forward``, ``official_outputs`` and ``our_outputs``
    (tests/golden/cases/__init__.py) for the official ``Network`` of ``configs/<config_name>.py`` called through
    ``test_sample.py`` on ``runs`` (input names per call)."""
    return (lambda sources: network(sources['official'], config_name),
            lambda net, inputs: official_forward(net, inputs, runs),
            lambda net, inputs: official_outputs(net, inputs, runs),
            lambda model, inputs: our_outputs(model, inputs, runs))
