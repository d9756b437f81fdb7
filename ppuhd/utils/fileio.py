"""Crash-safe file writes."""
import os
from typing import Any

import paddle


def atomic_save(obj: Any, path: str) -> None:
    """``paddle.save`` to ``path`` so that ``path`` is always absent, old or complete.

    Writes a temporary file next to it, fsyncs it, renames it over ``path`` and
    fsyncs the folder: a process killed at any moment never leaves a
    half-written file under the final name.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f'{path}.tmp.{os.getpid()}'
    paddle.save(obj, tmp)
    with open(tmp, 'rb') as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
