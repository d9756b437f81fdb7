"""Device selection shared by the trainer and the tools."""
import ctypes
import ctypes.util
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
        if not any(k.startswith('MALLOC_') for k in os.environ):  # the user's own malloc settings win
            keep_freed_memory()
    return device


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
_MMAP_THRESHOLD_MAX = 32 << 20  # the largest mmap threshold glibc accepts on 64-bit systems


def keep_freed_memory(all_sizes: bool = False) -> bool:
    """Make glibc malloc reuse freed blocks instead of returning them to the OS; False where malloc is not glibc's.

    Paddle's CPU allocator hands every tensor to malloc and frees it as soon as it dies. glibc serves a block
    above its (dynamic) mmap threshold with a fresh ``mmap`` and unmaps it on free, so each new activation or
    gradient is page-faulted and zeroed by the kernel again.

    Args:
        all_sizes: False (what ``setup_device`` does on CPU): blocks up to 32 MB come from the heap and at most
            256 MB of freed memory stays mapped, so training-sized tensors are reused (ReLU forward+backward on
            1.2 M floats 16-30 ms -> 2 ms; docs/benchmarks.md, "Training step profile") while larger ones are
            still mapped fresh and returned. True (deploy ``--reuse-memory``): no block is mmap'ed and nothing is
            ever returned: UHDFour 4K under Paddle Inference 18.2 s -> 11.1 s, but a higher peak (3.30 -> 4.85 GB).
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6').mallopt
    except (OSError, AttributeError):
        return False
    if all_sizes:
        return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2 ** 31 - 1))
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, 256 << 20))
