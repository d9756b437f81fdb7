"""UHDFour: official ``InteractNet`` state dict (Li-Chongyi/UHDFour_code) -> ``ppuhd`` UHDFour.

The official checkpoints are raw state dicts of a ``torch.nn.DataParallel``
model (``module.`` prefix). Module names already match ``ppuhd.models.uhdfour``;
the differences are:

- Paddle's InstanceNorm calls its affine weight ``scale`` (``norm.weight`` -> ``norm.scale``).
- Modules that the official ``forward`` never calls are not built in Paddle, so
  their weights are dropped, each kind matched by an explicit pattern below. Any
  other key that does not fit is an error (see ``common.check_and_build``).

ConvTranspose weights need no transpose: both frameworks store [in, out, kh, kw].
"""
import re
from typing import Dict, List, Optional, Tuple

from .common import StateDict, register_converter

# (pattern with a 'module' group, reason): modules built in __init__ but unreachable from forward.
UNUSED_EVERY_BLOCK = [
    (r'^(?P<module>.*\.(frequency_spatial|spatial_frequency))\.(weight|bias)$',
     'ProcessBlock conv built but never called in forward'),
]
# EnhanceN_arch.py HighNet.forward has conv3/conv4 and con_temp1/2 commented out.
UNUSED_UHD = [
    (r'^(?P<module>highnet\.conv[34])\.', 'HighNet ProcessBlock commented out of the UHD forward'),
    (r'^(?P<module>highnet\.con_temp[12])\.(weight|bias)$', 'HighNet conv commented out of the UHD forward'),
] + UNUSED_EVERY_BLOCK

RENAMES = [(r'\.norm\.weight$', '.norm.scale')]


def _unused_module(key: str, unused: List[Tuple[str, str]]) -> Optional[Tuple[str, str]]:
    """(module, reason) of the first ``unused`` pattern matching ``key``; None if it is used."""
    for pattern, reason in unused:
        match = re.search(pattern, key)
        if match:
            return match.group('module'), reason
    return None


def convert_uhdfour_keys(state: StateDict, unused: List[Tuple[str, str]]) -> Tuple[StateDict, Dict[str, str]]:
    """Strip ``module.``, drop the ``unused`` patterns (reported by source module name) and rename."""
    converted, dropped = {}, {}
    for src_key, value in state.items():
        key = src_key.removeprefix('module.')  # DataParallel
        unused_module = _unused_module(key, unused)
        if unused_module:
            module, reason = unused_module
            dropped[src_key[:len(src_key) - len(key)] + module] = reason
            continue
        for pattern, repl in RENAMES:
            key = re.sub(pattern, repl, key)
        converted[key] = value
    return converted, dropped


@register_converter('uhdfour')
def convert_uhdfour(state: StateDict):
    """Official ``src/EnhanceN_arch.py`` (UHD-LL) weights."""
    return convert_uhdfour_keys(state, UNUSED_UHD)


@register_converter('uhdfour_lol')
def convert_uhdfour_lol(state: StateDict):
    """Official ``src/EnhanceN_arch_LOL.py`` weights (its HighNet uses conv3/conv4 and con_temp1/2)."""
    return convert_uhdfour_keys(state, UNUSED_EVERY_BLOCK)
