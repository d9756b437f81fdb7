"""UHDFour (UHD-LL): official ``InteractNet`` of Li-Chongyi/UHDFour_code ``src/EnhanceN_arch.py``.

The released checkpoints are raw state dicts of a DataParallel model (``module.`` keys). Inputs are
multiples of 8, as the official ``val_data.py`` crops them; the outputs are the enhanced image and the
enhanced 1/8 image that ``InteractNet.forward`` returns.
"""
import os

from . import as_dict, import_file

ARCH = 'uhdfour'
OFFICIAL = 'Li-Chongyi/UHDFour_code src/EnhanceN_arch.py InteractNet()'
SOURCES = {'official': 'a checkout of https://github.com/Li-Chongyi/UHDFour_code'}
FILES = {'official': ('src/EnhanceN_arch.py',)}
INPUTS = {'x': (2, 3, 64, 64), 'x_wide': (1, 3, 48, 80)}
PREFIX = 'module.'
OUTPUTS = ('y', 'y_down')


def official_model(sources, filename='EnhanceN_arch.py'):
    module = import_file(os.path.join(sources['official'], 'src', filename), 'official_' + filename[:-3])
    return module.InteractNet()


def official_outputs(net, inputs):
    return {f'{name}{suffix}': value for suffix, x in (('', inputs['x']), ('_wide', inputs['x_wide']))
            for name, value in as_dict(OUTPUTS, net(x)).items()}


def our_outputs(model, inputs):
    return official_outputs(model, inputs)  # same call and tuple: (y, y_down)
