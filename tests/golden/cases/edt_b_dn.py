"""EDT-B denoising from a file of one released level: official ``Network`` of fenglinglwb/EDT, ``DNg25_EDTB_D4``.

Its state dict has ``head_dn_g25`` / ``tail_dn_g25``, which ``convert_weights.py --arch edt_b_dn`` maps to
``head_dn`` / ``tail_dn`` (the level is logged). The head downsamples twice, so ``test_sample.py`` pads to
(h // 96 + 1) * 96: ``x`` (96 x 96, a multiple) becomes 192 x 192, a 48 x 48 body input (the stored masks);
``x_odd`` (50 x 70) becomes 96 x 96, a 24 x 24 body input (recomputed masks). The inputs are noise images (the
rule's weights do not denoise anything); outputs before test_sample.py's clamp.
"""
from . import _edt_official as edt

ARCH = 'edt_b_dn'
CONFIG = 'DNg25_EDTB_D4'
OFFICIAL = f'fenglinglwb/EDT utils/modules/edt.py Network(configs/{CONFIG}.py) through test_sample.py'
SOURCES = {'official': edt.OFFICIAL_SOURCE}
FILES = {'official': edt.FILES + (f'configs/{CONFIG}.py',)}
FIXED = edt.FIXED
INPUTS = {'x': (1, 3, 96, 96), 'x_odd': (1, 3, 50, 70)}
RUNS = (('x',), ('x_odd',))  # input names per test_sample call
MISTAKE_INPUTS = ('x_odd',)  # the mistake check's input: the cheaper one (a 24 x 24 body, not 48 x 48)

official_model, official_forward, official_outputs, our_outputs = edt.case_functions(CONFIG, RUNS)
