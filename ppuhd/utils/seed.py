"""Seeding and RNG-state capture, so a resumed run continues bit-exactly."""
import random
from typing import Any, Dict

import numpy as np
import paddle


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


def get_rng_state() -> Dict[str, Any]:
    """Python, NumPy and Paddle generators (the CPU one and, on GPU, the current device's)."""
    return {'python': random.getstate(), 'numpy': np.random.get_state(),
            'paddle_cpu': paddle.get_rng_state('cpu'), 'paddle': paddle.get_rng_state()}


def set_rng_state(state: Dict[str, Any]) -> None:
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    paddle.set_rng_state(state['paddle_cpu'], 'cpu')
    paddle.set_rng_state(state['paddle'])
