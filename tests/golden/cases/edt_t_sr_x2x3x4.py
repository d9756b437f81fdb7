"""EDT-T x2/x3/x4 multi-task pre-training model: official ``Network`` of fenglinglwb/EDT,
``SRx2x3x4_EDTT_ImageNet200K`` (three heads and pixelshuffle tails around one body).

One ``test_sample.py`` call on the list of one input per task, as the multi-task model takes it: ``x2`` 24 x 24
(a multiple of the window: padded to the 48 x 48 training size, stored masks), ``x3`` 13 x 17 and ``x4`` 17 x 13
(odd: padded to 24 x 24, recomputed masks); ours is ``model([x2, x3, x4])``. Outputs before the clamp.
"""
from . import _edt_official as edt

ARCH = 'edt_t_sr_x2x3x4'
CONFIG = 'SRx2x3x4_EDTT_ImageNet200K'
OFFICIAL = f'fenglinglwb/EDT utils/modules/edt.py Network(configs/{CONFIG}.py) through test_sample.py'
SOURCES = {'official': edt.OFFICIAL_SOURCE}
FILES = {'official': edt.FILES + (f'configs/{CONFIG}.py',)}
FIXED = edt.FIXED
INPUTS = {'x2': (1, 3, 24, 24), 'x3': (1, 3, 13, 17), 'x4': (1, 3, 17, 13)}
RUNS = (('x2', 'x3', 'x4'),)  # input names per test_sample call

official_model, official_forward, official_outputs, our_outputs = edt.case_functions(CONFIG, RUNS)
