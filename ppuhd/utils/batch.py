"""Folder runs of the inference CLIs (``tools/infer.py``, ``deploy/python/infer.py``): no lost or misdirected output.

* Output names: ``<stem>.png`` per input; inputs whose stems collide (``x.png`` and ``x.jpg``,
  or ``X.png`` and ``x.png`` on a case-insensitive disk) each keep their extension instead
  (``x.png.png``, ``x.jpg.png``), so distinct inputs always give distinct outputs.
* No input is ever overwritten: an output folder equal to the input folder, or an output path
  that is an input, is refused before anything runs.
* The output folder is created and checked writable before the model is loaded and any image
  computed; each output is written under a temporary name and renamed into place, so a symlink
  planted in the output folder is replaced, never followed.
* One file that cannot be read or run is recorded and the others continue; the failures are
  listed at the end and the exit status is 1.
"""
import os
import sys
import tempfile
from typing import Callable, Dict, List, Sequence, Tuple

from tqdm import tqdm

from .image_io import list_images


def collect_inputs(path: str) -> List[str]:
    """The image files of ``--input`` (a file, or a folder's images).

    Raises:
        FileNotFoundError: it does not exist, or the folder holds no image.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f'--input {path} does not exist')
    files = list_images(path) if os.path.isdir(path) else [path]
    if not files:
        raise FileNotFoundError(f'No images (.png .jpg .jpeg .bmp .tif .tiff .webp) in {path}')
    return files


def output_names(files: Sequence[str], suffix: str = '.png') -> Dict[str, str]:
    """``{input path: output file name}``: ``<stem><suffix>``, or ``<name><suffix>`` for colliding stems.

    Names are compared case-insensitively (macOS and Windows disks are). A name that still collides
    (inputs ``x.png``, ``x.jpg`` and ``x.jpg.png``) gets ``-2``, ``-3``... in input order.
    """
    def key(name: str) -> str:
        return name.casefold()

    stems = [os.path.splitext(os.path.basename(f))[0] + suffix for f in files]
    counts: Dict[str, int] = {}
    for name in stems:
        counts[key(name)] = counts.get(key(name), 0) + 1
    names = [stem if counts[key(stem)] == 1 else os.path.basename(f) + suffix for f, stem in zip(files, stems)]
    taken: Dict[str, int] = {}
    unique = []
    for name in names:
        base, ext = os.path.splitext(name)
        candidate, n = name, 1
        while key(candidate) in taken:
            n += 1
            candidate = f'{base}-{n}{ext}'
        taken[key(candidate)] = 1
        unique.append(candidate)
    return dict(zip(files, unique))


def _same_folder(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def plan_outputs(files: Sequence[str], input_path: str, output_dir: str, suffix: str = '.png') -> Dict[str, str]:
    """``{input: output path}`` in ``output_dir``, refusing any output that would overwrite an input.

    Raises:
        ValueError: ``output_dir`` is the input folder, or an output path is one of the inputs.
    """
    if os.path.isdir(input_path) and os.path.isdir(output_dir) and _same_folder(input_path, output_dir):
        raise ValueError(f'--output {output_dir} is the input folder: results would mix with the inputs and could '
                         'overwrite them; choose another output folder')
    real_out = os.path.realpath(output_dir)
    inputs = {os.path.realpath(f) for f in files} | {
        os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(f))), os.path.basename(f)) for f in files}
    plan = {src: os.path.join(output_dir, name) for src, name in output_names(files, suffix).items()}
    for src, dst in plan.items():
        if os.path.join(real_out, os.path.basename(dst)) in inputs:
            raise ValueError(f'the output for {src} would be {dst}, which is an input: choose another --output')
    return plan


def prepare_output_dir(output_dir: str) -> None:
    """Create ``output_dir`` and prove it writable (a file is created and removed) before any work is done.

    Raises:
        OSError: naming the folder and the reason.
    """
    try:
        os.makedirs(output_dir, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=output_dir, prefix='.ppuhd-write-test-')
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise OSError(f'--output {output_dir} is not a writable folder: {err.strerror or err}') from None


def run_batch(files: Sequence[str], work: Callable[[str], None], desc: str = 'infer') -> List[Tuple[str, str]]:
    """``work(file)`` for every file; returns ``[(file, reason)]`` of those that failed.

    Any exception of one file (unreadable image, a size the model refuses, a failed write) is
    recorded with its type when the message alone would not say what happened; the run goes on.
    """
    failures = []
    for src in tqdm(files, desc=desc, disable=len(files) == 1):
        try:
            work(src)
        except Exception as err:  # noqa: BLE001 - one bad file never ends the batch; KeyboardInterrupt still does
            reason = str(err) if isinstance(err, (OSError, ValueError)) and str(err) else f'{type(err).__name__}: {err}'
            failures.append((src, reason))
    return failures


def report(total: int, failures: List[Tuple[str, str]], summary: str) -> int:
    """Print ``summary`` (formatted with ``done`` and ``total``) and every failure; the exit status (0 or 1)."""
    print(summary.format(done=total - len(failures), total=total))
    for src, reason in failures:
        print(f'FAILED {src}: {reason}', file=sys.stderr)
    if failures:
        print(f'{len(failures)} of {total} file(s) failed (listed above)', file=sys.stderr)
    return 1 if failures else 0
