"""EDT-B x3 (pixelshuffle tail: conv + PixelShuffle(3)): official ``Network`` of fenglinglwb/EDT,
``SRx3_EDTB_Div2kFlickr2K``.

Through ``test_sample.py`` as in ``edt_t_sr_x2``: ``x`` 24 x 24 (padded to the 48 x 48 training size, stored
masks) and ``x_odd`` 13 x 19 (padded to 24 x 24, recomputed masks; the smallest body, to keep the test short:
the T cases run the same body code on a non-square map). Outputs before its clamp.
"""
from . import _edt_official as edt

ARCH = 'edt_b_sr_x3'
CONFIG = 'SRx3_EDTB_Div2kFlickr2K'
OFFICIAL = f'fenglinglwb/EDT utils/modules/edt.py Network(configs/{CONFIG}.py) through test_sample.py'
SOURCES = {'official': edt.OFFICIAL_SOURCE}
FILES = {'official': edt.FILES + (f'configs/{CONFIG}.py',)}
FIXED = edt.FIXED
INPUTS = {'x': (1, 3, 24, 24), 'x_odd': (1, 3, 13, 19)}
RUNS = (('x',), ('x_odd',))  # input names per test_sample call
MISTAKE_INPUTS = ('x_odd',)  # the mistake check's input: the cheaper one (a 24 x 24 body, not 48 x 48)

official_model, official_forward, official_outputs, our_outputs = edt.case_functions(CONFIG, RUNS)
