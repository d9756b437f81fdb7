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
        keep_freed_memory()
    return device


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_MAX = 32 << 20  # the largest value glibc accepts on 64-bit systems
_TRIM_THRESHOLD = 256 << 20


def keep_freed_memory() -> bool:
    """Let glibc reuse freed blocks of up to 32 MB instead of returning them to the OS.

    Paddle's CPU allocator hands every tensor to malloc and frees it as soon as it dies; with glibc's defaults a
    block above the (dynamic) mmap threshold is mmap'ed and unmapped each time, so every new activation or
    gradient of a training step pays fresh zeroed pages. Fixing the thresholds keeps those blocks in the heap:
    an elementwise ReLU forward+backward on 1.2 M floats goes from 16-30 ms to 2 ms, and a whole DeiT-Ti or
    UHDFour training step is markedly faster (docs/benchmarks.md, "Training step profile"). The cost: the
    process keeps up to ``_TRIM_THRESHOLD`` of freed memory mapped (RSS does not shrink after a peak).
    Nothing happens when the user set ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` or the C library
    is not glibc. Returns whether the thresholds were set.
    """
    if 'MALLOC_MMAP_THRESHOLD_' in os.environ or 'MALLOC_TRIM_THRESHOLD_' in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
