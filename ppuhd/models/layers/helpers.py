"""Small argument helpers."""
from typing import Sequence, Tuple, Union


def to_2tuple(value: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """``7 -> (7, 7)``; a pair is returned as a tuple."""
    if isinstance(value, int):
        return value, value
    value = tuple(value)
    if len(value) != 2:
        raise ValueError(f'expected an int or a pair, got {value!r}')
    return value
