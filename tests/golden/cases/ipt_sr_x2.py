"""IPT x2: official ``ipt`` and ``Model.forward_chop`` of huawei-noah/Pretrained-IPT (``model/ipt.py``,
``model/__init__.py``), released configuration (``option.py`` defaults, ``--scale 2``).

The released checkpoints are raw state dicts (no prefix). ``tile`` is one 48 x 48 pass of the network;
``image`` (60 x 72 = 48 + 12 k on both sides: the edge strips coincide with the last grid row and column)
goes through the official test-time chop, run on CPU by ``_ipt_official.on_cpu``. The network works on
0..255: both sides see the [0, 1] inputs times 255 and their outputs are divided by 255.
"""
from ._ipt_official import FILES as OFFICIAL_FILES
from ._ipt_official import build, chop

ARCH = 'ipt_sr_x2'
ARGV = ('--scale', '2')
OFFICIAL = 'huawei-noah/Pretrained-IPT model/__init__.py Model(option.args: --scale 2).forward_chop, model/ipt.py ipt'
SOURCES = {'official': 'a checkout of https://github.com/huawei-noah/Pretrained-IPT'}
FILES = {'official': OFFICIAL_FILES}
INPUTS = {'tile': (1, 3, 48, 48), 'image': (1, 3, 60, 72)}
FIXED = (r'^(sub|add)_mean\.',)  # common.MeanShift: frozen constants (identity conv, -/+ 255 x the DIV2K mean)
_WRAPPERS = {}  # ipt module -> its official Model wrapper (forward_chop lives there, not on the module)


def official_model(sources, argv=ARGV):
    wrapper = build(sources['official'], list(argv))
    _WRAPPERS[id(wrapper.model)] = wrapper
    return wrapper.model


def official_outputs(net, inputs):
    out = {'tile': net(inputs['tile'] * 255) / 255}
    out.update({name: chop(_WRAPPERS[id(net)], x * 255) / 255 for name, x in inputs.items() if name != 'tile'})
    return {k: v.numpy() for k, v in out.items()}


def our_outputs(model, inputs):
    return {name: model(x).numpy() for name, x in inputs.items()}  # eval mode: 48 x 48 = one pass, else the chop
