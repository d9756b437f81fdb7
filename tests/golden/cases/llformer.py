"""LLFormer: official ``LLFormer`` of TaoWangzj/LLFormer ``model/LLFormer.py``, released configuration.

The released checkpoints are ``{'state_dict': ...}`` of a DataParallel model (``module.`` keys; an ``.npz``
holds the flat state dict). ``x_pad`` is not a multiple of 16: the official ``test.py`` reflect-pads it at the
bottom/right to the next multiple of 16 and crops the output back; the outputs are the network's before
``test.py``'s ``clamp(0, 1)``, which would hide differences outside [0, 1].
"""
import os

from . import import_file

ARCH = 'llformer'
OFFICIAL = 'TaoWangzj/LLFormer model/LLFormer.py LLFormer(<test.py / test_UHD.py arguments>)'
SOURCES = {'official': 'a checkout of https://github.com/TaoWangzj/LLFormer'}
FILES = {'official': ('model/LLFormer.py', 'test.py')}
INPUTS = {'x': (1, 3, 32, 48), 'x_pad': (1, 3, 29, 43)}
PREFIX = 'module.'


def official_model(sources):
    module = import_file(os.path.join(sources['official'], 'model', 'LLFormer.py'), 'official_llformer')
    # the arguments of test.py and test_UHD.py
    return module.LLFormer(inp_channels=3, out_channels=3, dim=16, num_blocks=[2, 4, 8, 16], num_refinement_blocks=2,
                           heads=[1, 2, 4, 8], ffn_expansion_factor=2.66, bias=False, LayerNorm_type='WithBias',
                           attention=True, skip=False)


def _official_test_py(net, x, mul=16):
    """test.py's padding around one forward (its lines 74-84, without the clamp)."""
    import torch.nn.functional as F
    h, w = x.shape[2], x.shape[3]
    H, W = ((h + mul) // mul) * mul, ((w + mul) // mul) * mul
    padh = H - h if h % mul != 0 else 0
    padw = W - w if w % mul != 0 else 0
    return net(F.pad(x, (0, padw, 0, padh), 'reflect'))[:, :, :h, :w]


def official_outputs(net, inputs):
    return {'y': net(inputs['x']).numpy(), 'y_pad': _official_test_py(net, inputs['x_pad']).numpy()}


def our_outputs(model, inputs):
    return {'y': model(inputs['x']).numpy(), 'y_pad': model(inputs['x_pad']).numpy()}  # pads itself
