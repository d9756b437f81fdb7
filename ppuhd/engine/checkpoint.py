"""Atomic checkpoints: write to a temporary file, fsync, then rename.

A run killed at any moment (even inside ``paddle.save``) leaves either the
previous checkpoint or the new one, never a half-written file under a final
name. ``find_resumable`` returns the newest checkpoint that loads.
"""
import glob
import os
import re
from typing import Any, Dict, List, Optional, Tuple

from ..utils.fileio import atomic_save  # noqa: F401  (re-exported for the trainer)
from ..utils.logger import get_logger
from ..utils.weights import read_paddle_file

CKPT_PATTERN = re.compile(r'iter_(\d+)\.pdckpt$')


def checkpoint_path(ckpt_dir: str, iteration: int) -> str:
    return os.path.join(ckpt_dir, f'iter_{iteration:08d}.pdckpt')


def list_checkpoints(ckpt_dir: str) -> List[Tuple[int, str]]:
    """(iteration, path) of the complete checkpoints, newest first."""
    found = []
    for path in glob.glob(os.path.join(ckpt_dir, 'iter_*.pdckpt')):
        match = CKPT_PATTERN.search(os.path.basename(path))
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found, reverse=True)


def prune_checkpoints(ckpt_dir: str, keep_last: int) -> None:
    for _, path in list_checkpoints(ckpt_dir)[keep_last:]:
        os.remove(path)


def remove_stale_temp_files(ckpt_dir: str) -> None:
    """Leftovers of a write that was killed before its rename."""
    for path in glob.glob(os.path.join(ckpt_dir, '*.tmp.*')):
        get_logger().warning('Removing incomplete checkpoint write %s', path)
        os.remove(path)


def load_checkpoint(path: str) -> Dict[str, Any]:
    state = read_paddle_file(path, 'Checkpoint')
    if not isinstance(state, dict) or 'model' not in state or 'iter' not in state:
        raise ValueError(f'{path} is not a ppuhd training checkpoint (needs model and iter); '
                         f'to start from model weights, use model_weights in the config instead')
    return state


def find_resumable(ckpt_dir: str) -> Optional[Tuple[str, Dict[str, Any]]]:
    """The newest checkpoint in ``ckpt_dir`` that loads, with its state; None when there is none."""
    remove_stale_temp_files(ckpt_dir)
    for _, path in list_checkpoints(ckpt_dir):
        try:
            return path, load_checkpoint(path)
        except Exception as err:  # a damaged file must not stop the resume: try the previous one
            get_logger().warning('Skipping unreadable checkpoint %s (%s)', path, err)
    return None
