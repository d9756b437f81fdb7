"""RegNetY-200MF: timm 1.0.31 ``timm.create_model('regnety_002')``, eval-mode logits.

The same converter serves deit's teacher ``regnety_160`` (timm 0.3.2 key names are the same): BatchNorm running
statistics renamed, ``num_batches_tracked`` dropped, the classifier transposed. A global-pooling convnet takes
any input size, so the input is small.
"""
from . import import_timm

ARCH = 'regnety_002'
OFFICIAL = "timm==1.0.31 timm.create_model('regnety_002')"
SOURCES = {'timm': 'a folder holding the timm 1.0.31 package (pip install --no-deps --target DIR timm==1.0.31)'}
FILES = {'timm': ('timm/models/regnet.py',)}
INPUTS = {'x': (2, 3, 64, 80)}


def official_model(sources):
    return import_timm(sources['timm'], '1.0.31').create_model(ARCH)


def official_outputs(net, inputs):
    return {'logits': net(inputs['x']).numpy()}


our_outputs = official_outputs  # same call: eval-mode logits
