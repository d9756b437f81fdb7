"""Device selection shared by the trainer and the tools."""
import os
from typing import Optional

import paddle

from . import dist


def setup_device(device: str = 'auto', num_threads: Optional[int] = None) -> str:
    """Select the device; on CPU give dygraph all cores (it uses one thread unless told)."""
    if device == 'auto':
        device = 'gpu' if paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() else 'cpu'
    if device == 'gpu' and not paddle.device.is_compiled_with_cuda():
        raise RuntimeError("device: gpu was requested but this Paddle is a CPU build; install paddlepaddle-gpu "
                           "or set device: cpu")
    if device == 'gpu':
        device = f'gpu:{paddle.distributed.ParallelEnv().device_id}'
    paddle.set_device(device)
    if device == 'cpu':
        threads = num_threads or max(1, (os.cpu_count() or 1) // dist.world_size())
        paddle.base.core.set_num_threads(threads)
    return device
