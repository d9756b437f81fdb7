"""EDT-T x2 (pixelshuffledirect tail): official ``Network`` of fenglinglwb/EDT, ``SRx2_EDTT_Div2kFlickr2K``.

The released files are raw state dicts (attention-mask buffers of the shifted blocks included). Both inputs go
through ``test_sample.py``'s padding (flip-concatenation to (h // 24 + 1) * 24, see ``_edt_official``): ``x``
(24 x 24, a multiple of the window) becomes 48 x 48, the training size whose stored masks the official blocks
use; ``x_odd`` (13 x 29) becomes 24 x 48, where they recompute the masks. Outputs are test_sample.py's
cropped predictions before ``tensor2img``'s clamp and rounding.
"""
from . import _edt_official as edt

ARCH = 'edt_t_sr_x2'
CONFIG = 'SRx2_EDTT_Div2kFlickr2K'
OFFICIAL = f'fenglinglwb/EDT utils/modules/edt.py Network(configs/{CONFIG}.py) through test_sample.py'
SOURCES = {'official': edt.OFFICIAL_SOURCE}
FILES = {'official': edt.FILES + (f'configs/{CONFIG}.py',)}
FIXED = edt.FIXED
INPUTS = {'x': (1, 3, 24, 24), 'x_odd': (1, 3, 13, 29)}
RUNS = (('x',), ('x_odd',))  # input names per test_sample call
MISTAKE_INPUTS = ('x_odd',)  # the mistake check's input: the cheaper one (a 24 x 48 body, not 48 x 48)

official_model, official_forward, official_outputs, our_outputs = edt.case_functions(CONFIG, RUNS)
