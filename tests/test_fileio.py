"""Atomic writes (ppuhd/utils/fileio.py): every file the trainer and the tools write is absent, old or complete."""
import errno
import json
import os

import pytest

from ppuhd.utils import fileio


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / 'best.json'
    fileio.atomic_write_text(str(path), json.dumps({'value': 1}))

    def disk_fills_up(tmp):
        with open(tmp, 'w') as f:
            f.write('{"val')
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with pytest.raises(OSError) as err:
        fileio.atomic_write(str(path), disk_fills_up)
    assert fileio.is_disk_full(err.value)
    assert json.loads(path.read_text()) == {'value': 1} and os.listdir(tmp_path) == ['best.json']
    with pytest.raises(KeyboardInterrupt):  # an interrupt too
        fileio.atomic_write(str(path), lambda tmp: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert os.listdir(tmp_path) == ['best.json']


def test_symlinks_are_replaced_never_followed(tmp_path):
    victim = tmp_path / 'victim'
    victim.write_text('keep')
    (tmp_path / 'config.yml').symlink_to(victim)
    os.symlink(victim, fileio.temp_path(str(tmp_path / 'config.yml')))  # planted at this process's temp name
    fileio.atomic_write_text(str(tmp_path / 'config.yml'), 'a: 1\n')
    assert victim.read_text() == 'keep' and (tmp_path / 'config.yml').read_text() == 'a: 1\n'
    assert not (tmp_path / 'config.yml').is_symlink() and sorted(os.listdir(tmp_path)) == ['config.yml', 'victim']


def test_stale_temporary_files_are_found_by_their_pattern_only(tmp_path):
    for name in ('iter_00000003.pdckpt.tmp.123', 'best_model.pdparams.tmp.9', 'notes.tmp.txt', 'x.tmp.', 'keep.png'):
        (tmp_path / name).write_text('')
    removed = fileio.remove_stale_temp_files(str(tmp_path))
    assert sorted(os.path.basename(p) for p in removed) == ['best_model.pdparams.tmp.9', 'iter_00000003.pdckpt.tmp.123']
    assert sorted(os.listdir(tmp_path)) == ['keep.png', 'notes.tmp.txt', 'x.tmp.']
