"""LLFormer: official ``model/LLFormer.py`` state dict (TaoWangzj/LLFormer) -> ``ppuhd`` LLFormer.

The official checkpoints are ``{'state_dict': sd}`` of a DataParallel model (``module.``
prefix; ``test_UHD.py``'s ``load_checkpoint`` strips ``k[7:]``). Module names match
``ppuhd.models.llformer`` one to one (Paddle's LayerNorm also calls its parameters
``weight``/``bias``; conv weights share the [out, in, kh, kw] layout), so the only change is
dropping the two tensors the official ``forward`` never reads. Anything else that does not
fit is an error (``common.check_and_build``).
"""
from typing import Dict, Tuple

from .common import StateDict, register_converter

UNUSED = {
    'coefficient': 'LLFormer.coefficient (4 x 2 x 8*dim) is built but never used in forward',
    'skip_2_1': 'skip_2_1 conv is built but forward uses skip_1_0 at that level',
}


@register_converter('llformer')
def convert_llformer(state: StateDict) -> Tuple[StateDict, Dict[str, str]]:
    """Official released-config weights (any width: shapes are checked against the built model)."""
    converted, dropped = {}, {}
    for src_key, value in state.items():
        key = src_key.removeprefix('module.')  # DataParallel
        module = key.rsplit('.', 1)[0] if '.' in key else key
        if module in UNUSED:
            # report the module in source naming; a bare parameter is its own "module"
            prefix = src_key[:len(src_key) - len(key)] + module
            dropped[prefix] = UNUSED[module]
            continue
        converted[key] = value
    return converted, dropped
