"""Crash-safe file writes: every file is absent, old or complete, never half-written.

A file is written under ``<path>.tmp.<pid>`` (created exclusively, so a symlink planted there is
never followed), flushed to disk, then renamed over ``path``: a rename replaces a symlink at
``path`` instead of writing through it. On any failure (a full disk, a killed encoder) the
temporary file is removed before the error propagates; a process killed outright leaves only
``*.tmp.<pid>`` files, which :func:`remove_stale_temp_files` deletes at the next start.
"""
import errno
import glob
import os
import re
from typing import Any, Callable, List

TEMP_PATTERN = re.compile(r'\.tmp\.\d+$')


def temp_path(path: str) -> str:
    """The temporary name ``path`` is written under by this process."""
    return f'{path}.tmp.{os.getpid()}'


def _fsync_folder(folder: str) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` to fill a fresh temporary file, then rename it over ``path``.

    Args:
        path: the final name; its folder is created.
        write: writes the content to the path it is given (e.g. ``lambda tmp: paddle.save(obj, tmp)``).

    Raises:
        OSError: the folder is not writable or the disk is full; ``path`` is unchanged and no temporary file is left.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = temp_path(path)
    if os.path.lexists(tmp):  # ours from an earlier failed attempt of this pid (never followed: removed)
        os.remove(tmp)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0), 0o666))
    try:
        write(tmp)
        with open(tmp, 'rb') as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(folder)


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    def write(tmp: str) -> None:
        with open(tmp, 'wb') as f:
            f.write(data)
    atomic_write(path, write)


def atomic_write_text(path: str, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write_bytes(path, text.encode('utf-8'))


def atomic_save(obj: Any, path: str) -> None:
    """``paddle.save(obj)`` to ``path`` atomically (see :func:`atomic_write`)."""
    import paddle
    atomic_write(path, lambda tmp: paddle.save(obj, tmp))


def is_disk_full(err: BaseException) -> bool:
    """True for "no space left" and "quota exceeded" errors."""
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)


def remove_stale_temp_files(folder: str) -> List[str]:
    """Delete the ``*.tmp.<pid>`` leftovers of writes killed before their rename; returns their paths."""
    removed = []
    for path in glob.glob(os.path.join(glob.escape(folder), '*.tmp.*')):
        if TEMP_PATTERN.search(path) and (os.path.isfile(path) or os.path.islink(path)):
            os.remove(path)
            removed.append(path)
    return removed
