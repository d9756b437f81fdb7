"""EDT-B deraining from a file of one released level: official ``Network`` of fenglinglwb/EDT,
``DRhs_EDTB_RAIN100H__DRhs_ImageNet200K`` (heavy rain, ``head_dr_H`` / ``tail_dr_H``, converted to
``head_dr`` / ``tail_dr`` by ``--arch edt_b_dr``).

Sizes as in ``edt_b_dn`` (multiple 96): ``x`` 96 x 96 -> 192 x 192 (stored masks), ``x_odd`` 49 x 61 -> 96 x 96
(recomputed masks), through ``test_sample.py``; outputs before its clamp.
"""
from . import _edt_official as edt

ARCH = 'edt_b_dr'
CONFIG = 'DRhs_EDTB_RAIN100H__DRhs_ImageNet200K'
OFFICIAL = f'fenglinglwb/EDT utils/modules/edt.py Network(configs/{CONFIG}.py) through test_sample.py'
SOURCES = {'official': edt.OFFICIAL_SOURCE}
FILES = {'official': edt.FILES + (f'configs/{CONFIG}.py',)}
FIXED = edt.FIXED
INPUTS = {'x': (1, 3, 96, 96), 'x_odd': (1, 3, 49, 61)}
RUNS = (('x',), ('x_odd',))  # input names per test_sample call
MISTAKE_INPUTS = ('x_odd',)  # the mistake check's input: the cheaper one (a 24 x 24 body, not 48 x 48)

official_model, official_forward, official_outputs, our_outputs = edt.case_functions(CONFIG, RUNS)
