"""Atomic checkpoints, the run identity a resume must match, and the disk-full rule.

A run killed at any moment (even inside ``paddle.save``) leaves either the previous checkpoint
or the new one, never a half-written file under a final name (``ppuhd.utils.fileio``); its
temporary files are removed at the next start. Before writing a checkpoint the oldest ones are
pruned to ``keep_last - 1``, so the disk needs room for ``keep_last`` checkpoints, not one more;
a write that still fails (a full disk) leaves the newest good checkpoint and no partial file.
``find_resumable`` returns the newest checkpoint that loads, and :func:`check_run_identity`
refuses a resume whose run differs in what the checkpoint's position means.
"""
import glob
import os
import re
from typing import Any, Dict, List, Optional, Tuple

from ..utils.fileio import atomic_save  # noqa: F401  (re-exported for the trainer)
from ..utils.fileio import remove_stale_temp_files as _remove_temp_files
from ..utils.logger import get_logger
from ..utils.weights import UnsafeWeightsError, read_paddle_file

CKPT_PATTERN = re.compile(r'iter_(\d+)\.pdckpt$')
FORCE_RESUME_FLAG = '--force-resume'


def checkpoint_path(ckpt_dir: str, iteration: int) -> str:
    return os.path.join(ckpt_dir, f'iter_{iteration:08d}.pdckpt')


def list_checkpoints(ckpt_dir: str) -> List[Tuple[int, str]]:
    """(iteration, path) of the complete checkpoints, newest first."""
    found = []
    for path in glob.glob(os.path.join(glob.escape(ckpt_dir), 'iter_*.pdckpt')):
        match = CKPT_PATTERN.search(os.path.basename(path))
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found, reverse=True)


def prune_checkpoints(ckpt_dir: str, keep_last: int) -> None:
    for _, path in list_checkpoints(ckpt_dir)[max(keep_last, 0):]:
        os.remove(path)


def remove_stale_temp_files(folder: str) -> None:
    """Leftovers of writes killed before their rename (``*.tmp.<pid>``)."""
    for path in _remove_temp_files(folder):
        get_logger().warning('Removed the incomplete write %s (left by an interrupted run)', path)


def save_checkpoint(state: Dict[str, Any], ckpt_dir: str, iteration: int, keep_last: int = 2) -> str:
    """Write ``state`` as the checkpoint of ``iteration``, keeping the newest ``keep_last`` checkpoints.

    The oldest are removed first (down to ``keep_last - 1``, but never the newest), so a full disk
    fails here with the previous checkpoint intact and nothing partial left.

    Raises:
        OSError: the write failed; the message names the checkpoint that is still good and what to do.
    """
    path = checkpoint_path(ckpt_dir, iteration)
    prune_checkpoints(ckpt_dir, max(keep_last - 1, 1))
    try:
        atomic_save(state, path)
    except OSError as err:
        previous = [p for _, p in list_checkpoints(ckpt_dir) if p != path]
        kept = f'the last good checkpoint {previous[0]} is intact' if previous else 'no earlier checkpoint exists'
        raise type(err)(err.errno, f'Cannot write checkpoint {path}: {err.strerror or err}; nothing partial was '
                        f'left and {kept}. Free disk space (or lower train.keep_last) and continue with '
                        f'--resume auto') from err
    prune_checkpoints(ckpt_dir, keep_last)
    return path


def load_checkpoint(path: str, trust_pickle: Optional[bool] = None) -> Dict[str, Any]:
    state = read_paddle_file(path, 'Checkpoint', trust_pickle=trust_pickle)
    if not isinstance(state, dict) or 'model' not in state or 'iter' not in state:
        raise ValueError(f'{path} is not a ppuhd training checkpoint (needs model and iter); '
                         f'to start from model weights, use model_weights in the config instead')
    return state


def find_resumable(ckpt_dir: str) -> Optional[Tuple[str, Dict[str, Any]]]:
    """The newest checkpoint in ``ckpt_dir`` that loads, with its state; None when there is none.

    A damaged file (truncated, corrupt) is skipped for the previous one; a file refused as unsafe
    (its pickle would run code) is not skipped: it stops the resume, naming the file.
    """
    remove_stale_temp_files(ckpt_dir)
    for _, path in list_checkpoints(ckpt_dir):
        try:
            return path, load_checkpoint(path)
        except UnsafeWeightsError:
            raise
        except Exception as err:  # a damaged file must not stop the resume: try the previous one
            get_logger().warning('Skipping unreadable checkpoint %s (%s)', path, err)
    return None


def run_identity(cfg: Dict[str, Any], batch_size: int, accum_steps: int, world_size: int,
                 total_iters: int) -> Dict[str, Any]:
    """What a checkpoint's iteration count means: the same values are needed to continue the same run.

    The data order is a function of seed, batch size, accumulation and world size
    (``ResumableBatchSampler``), the schedule of total_iters, and the weights of the model config.
    """
    return {'seed': cfg.get('seed', 0), 'batch_size': batch_size, 'accum_steps': accum_steps,
            'world_size': world_size, 'total_iters': total_iters, 'model': cfg.get('model')}


def check_run_identity(saved: Optional[Dict[str, Any]], current: Dict[str, Any], path: str) -> None:
    """Refuse to resume ``path`` when the run's identity changed.

    Raises:
        ValueError: listing every changed value, and how to proceed.
    """
    if saved is None:
        get_logger().warning('Checkpoint %s predates run identities: cannot check that seed, batch size, '
                             'accumulation, world size, total_iters and model are unchanged', path)
        return
    changed = [f'{key}: {saved.get(key)!r} in the checkpoint, {current[key]!r} now'
               for key in current if saved.get(key) != current[key]]
    if changed:
        raise ValueError(f'Cannot resume {path}: this run differs from the one that wrote it ('
                         + '; '.join(changed) + '). Resuming would silently continue a different run (another data '
                         'order or schedule). Restore those settings, use a new output_dir to start afresh, or pass '
                         f'{FORCE_RESUME_FLAG} to continue anyway')
