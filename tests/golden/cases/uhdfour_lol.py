"""UHDFour (LOL): official ``InteractNet`` of Li-Chongyi/UHDFour_code ``src/EnhanceN_arch_LOL.py``.

Same checkpoint format and outputs as ``uhdfour`` (LowNet at 1/2 resolution, two more HighNet blocks). Its
input sizes differ: at 48 rows and at this seed's batch of two 64x64 images, some spectrum bin of the official
model sits on ``torch.angle``'s branch cut and its outputs move by 1e-5 .. 1e-3 under 1-ulp input noise
(see ``tests/test_official_parity.py``), so no port could be held to 1e-4 there.
"""
from .uhdfour import PREFIX, our_outputs, official_outputs  # noqa: F401
from .uhdfour import official_model as _uhd_model

ARCH = 'uhdfour_lol'
OFFICIAL = 'Li-Chongyi/UHDFour_code src/EnhanceN_arch_LOL.py InteractNet()'
SOURCES = {'official': 'a checkout of https://github.com/Li-Chongyi/UHDFour_code'}
FILES = {'official': ('src/EnhanceN_arch_LOL.py',)}
INPUTS = {'x': (1, 3, 64, 64), 'x_wide': (1, 3, 40, 72)}


def official_model(sources):
    return _uhd_model(sources, 'EnhanceN_arch_LOL.py')
