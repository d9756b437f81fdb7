"""Strict comparison of a state dict with the shapes a model expects."""
from typing import Any, Dict, Optional, Sequence


def describe_mismatch(state: Dict[str, Any], expected: Dict[str, Sequence[int]]) -> Optional[str]:
    """None when ``state`` has exactly the ``expected`` keys and shapes; otherwise one text listing
    every missing key, unexpected key and shape mismatch, so a broken file is fixed in one pass."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f'{k}: got {tuple(state[k].shape)}, expected {tuple(expected[k])}'
             for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k])]
    if not (missing or unexpected or wrong):
        return None
    lines = [f'{len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} with a wrong shape']
    lines += [f'  missing: {k}' for k in missing] + [f'  unexpected: {k}' for k in unexpected]
    lines += [f'  shape: {w}' for w in wrong]
    return '\n'.join(lines)
