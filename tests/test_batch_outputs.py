"""Folder runs of tools/infer.py and deploy/python/infer.py: bad files do not end the batch, outputs are never
lost, misdirected or written over inputs, unwritable output folders are refused before any work."""
import io
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import DEMO_CFG, ROOT
from ppuhd.utils import batch
from ppuhd.utils.image_io import write_image
from test_image_gate import _png_declaring

TOOLS_INFER = os.path.join(ROOT, 'tools', 'infer.py')
DEPLOY_INFER = os.path.join(ROOT, 'deploy', 'python', 'infer.py')


def test_output_names_are_distinct_for_distinct_inputs():
    files = ['in/x.png', 'in/x.jpg', 'in/y.tif', 'in/Z.png', 'in/z.bmp', 'in/x.jpg.png']
    names = batch.output_names(files)
    assert names == {'in/x.png': 'x.png.png', 'in/x.jpg': 'x.jpg.png', 'in/y.tif': 'y.png', 'in/Z.png': 'Z.png.png',
                     'in/z.bmp': 'z.bmp.png', 'in/x.jpg.png': 'x.jpg-2.png'}
    assert len({n.casefold() for n in names.values()}) == len(files)


def test_outputs_never_overwrite_inputs(tmp_path):
    src = tmp_path / 'in'
    src.mkdir()
    for name in ('a.png', 'b.jpg'):
        (src / name).write_bytes(b'')
    files = batch.collect_inputs(str(src))
    with pytest.raises(ValueError, match='is the input folder'):
        batch.plan_outputs(files, str(src), str(src))
    with pytest.raises(ValueError, match='is the input folder'):
        batch.plan_outputs(files, str(src), str(src) + '/./')
    (tmp_path / 'link').symlink_to(src)
    with pytest.raises(ValueError, match='is the input folder'):
        batch.plan_outputs(files, str(src), str(tmp_path / 'link'))
    single = [str(src / 'a.png')]  # one file, output folder = its folder: a.png would be replaced
    with pytest.raises(ValueError, match='which is an input'):
        batch.plan_outputs(single, single[0], str(src))
    assert batch.plan_outputs([str(src / 'b.jpg')], str(src / 'b.jpg'), str(src)) == {
        str(src / 'b.jpg'): str(src / 'b.png')}


def _unwritable_folder(tmp_path):
    """A folder this process cannot create files in (root ignores permission bits: use a /proc folder)."""
    if os.geteuid() != 0:
        folder = tmp_path / 'readonly'
        folder.mkdir()
        folder.chmod(0o555)
        return str(folder)
    if os.path.isdir('/proc/self/fdinfo'):
        return '/proc/self/fdinfo'
    pytest.skip('running as root without /proc: no folder is read-only')


def test_unwritable_output_folder_is_refused(tmp_path):
    with pytest.raises(OSError, match='is not a writable folder'):
        batch.prepare_output_dir(_unwritable_folder(tmp_path))
    (tmp_path / 'file').write_text('')
    with pytest.raises(OSError, match='is not a writable folder'):
        batch.prepare_output_dir(str(tmp_path / 'file' / 'out'))
    batch.prepare_output_dir(str(tmp_path / 'new' / 'out'))
    assert os.listdir(tmp_path / 'new' / 'out') == []  # the probe file is gone


def test_run_batch_records_any_exception_and_goes_on():
    seen = []

    def work(src):
        seen.append(src)
        if src == 'b':
            raise TypeError('weird decoder bug')
        if src == 'c':
            raise OSError('Cannot read image c: truncated')
    failures = batch.run_batch(['a', 'b', 'c', 'd'], work)
    assert seen == ['a', 'b', 'c', 'd']
    assert failures == [('b', 'TypeError: weird decoder bug'), ('c', 'Cannot read image c: truncated')]


# ---------------------------------------------------------------------------- both CLIs on a hostile folder
def _jpeg(img, **kw):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, 'JPEG', quality=95, **kw)
    return buf.getvalue()


@pytest.fixture
def hostile_folder(tmp_path):
    """Good images with colliding stems, an EXIF-rotated photo, a decompression bomb, a corrupt TIFF; an output
    folder holding a symlink to a file outside it."""
    rng = np.random.default_rng(0)
    src, out = tmp_path / 'in', tmp_path / 'out'
    src.mkdir()
    out.mkdir()
    img = (rng.random((40, 48, 3)) * 255).astype(np.uint8)
    write_image(str(src / 'a.png'), img)
    (src / 'a.jpg').write_bytes(_jpeg(img))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 48 wide and 40 high, shown 40 wide and 48 high
    (src / 'rotated.jpg').write_bytes(_jpeg(img, exif=exif.tobytes()))
    (src / 'bomb.png').write_bytes(_png_declaring(100000, 100000))
    tiff = bytearray(cv2.imencode('.tif', img)[1].tobytes())
    tiff[len(tiff) // 2:] = bytes(len(tiff) - len(tiff) // 2)
    (src / 'corrupt.tif').write_bytes(bytes(tiff[:200]))
    victim = tmp_path / 'victim.txt'
    victim.write_text('precious')
    (out / 'rotated.png').symlink_to(victim)
    return src, out, victim


def _run(script, *args):
    return subprocess.run([sys.executable, script, *args], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))


def _check_hostile_run(proc, src, out, victim, summary):
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert summary in proc.stdout
    failed = [line for line in proc.stderr.splitlines() if line.startswith('FAILED')]
    assert len(failed) == 2 and 'corrupt.tif' in failed[1]
    assert 'bomb.png' in failed[0] and 'too many pixels' in failed[0]
    assert '2 of 5 file(s) failed' in proc.stderr and 'Traceback' not in proc.stderr
    assert sorted(os.listdir(out)) == ['a.jpg.png', 'a.png.png', 'rotated.png']  # none lost, no temporary file
    assert victim.read_text() == 'precious' and not (out / 'rotated.png').is_symlink()
    assert cv2.imread(str(out / 'rotated.png')).shape == (48, 40, 3)  # upright, as the service turns it
    assert cv2.imread(str(out / 'a.png.png')).shape == (40, 48, 3)


def test_tools_infer_finishes_good_files_and_loses_none(hostile_folder, uhdfour_export):
    src, out, victim = hostile_folder
    proc = _run(TOOLS_INFER, '-c', DEMO_CFG, '--weights', uhdfour_export[1], '--input', str(src), '--output', str(out))
    _check_hostile_run(proc, src, out, victim, '3/5 images written')


def test_deploy_infer_finishes_good_files_and_loses_none(hostile_folder, uhdfour_export):
    src, out, victim = hostile_folder
    proc = _run(DEPLOY_INFER, '--model-dir', uhdfour_export[0], '--threads', '1', '--input', str(src),
                '--output', str(out))
    _check_hostile_run(proc, src, out, victim, '3/5 images done')


@pytest.mark.parametrize('script', [TOOLS_INFER, DEPLOY_INFER], ids=['tools', 'deploy'])
def test_cli_refuses_before_loading_the_model(script, tmp_path):
    """--output = --input, and an unwritable --output, are refused before the model loads (absent here)."""
    src = tmp_path / 'in'
    src.mkdir()
    write_image(str(src / 'a.png'), np.zeros((16, 16, 3), np.uint8))
    model = (['-c', DEMO_CFG, '--weights', str(tmp_path / 'absent.pdparams')] if script == TOOLS_INFER
             else ['--model-dir', str(tmp_path / 'absent')])
    for output, reason in ((str(src), 'is the input folder'), (_unwritable_folder(tmp_path), 'not a writable folder')):
        proc = _run(script, *model, '--input', str(src), '--output', output)
        assert proc.returncode == 2 and reason in proc.stderr, proc.stderr[-2000:]
        assert 'absent' not in proc.stderr and 'Traceback' not in proc.stderr
    assert os.listdir(src) == ['a.png']
