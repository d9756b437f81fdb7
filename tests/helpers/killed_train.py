"""Run tools/train.py, but SIGKILL this process at a chosen moment (a real crash, for resume tests),
or give it a disk that fills up.

    python killed_train.py at-iter N  -- <train.py args>   killed inside training iteration N+1
    python killed_train.py in-write N -- <train.py args>   killed half-way through writing checkpoint iter_N
    python killed_train.py disk-full N -- <train.py args>  the disk fills up half-way through checkpoint iter_N
    python killed_train.py disk-room K -- <train.py args>  the disk holds K checkpoints: writing one more
                                                           (temporary files included) fills it half-way
"""
import errno
import glob
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'tools'))

import paddle  # noqa: E402

from ppuhd.engine import trainer  # noqa: E402


def kill():
    os.kill(os.getpid(), signal.SIGKILL)


def main():
    mode, n, sep, *train_args = sys.argv[1:]
    n = int(n)
    if mode == 'at-iter':
        step = trainer.Trainer._step

        def step_then_die(self, batches):
            if self.iter == n:
                kill()
            return step(self, batches)
        trainer.Trainer._step = step_then_die
    elif mode in ('disk-full', 'disk-room'):
        save = paddle.save

        def disk_fills_up(obj, path, *args, **kwargs):
            held = len(glob.glob(os.path.join(os.path.dirname(path), 'iter_*.pdckpt'))) + 1  # with this one
            if '.pdckpt' in path and (f'iter_{n:08d}' in path if mode == 'disk-full' else held > n):
                save(obj, path, *args, **kwargs)
                with open(path, 'r+b') as f:  # the part that fitted
                    f.truncate(os.path.getsize(path) // 2)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return save(obj, path, *args, **kwargs)
        paddle.save = disk_fills_up
    else:
        save = paddle.save

        def half_write_then_die(obj, path, *args, **kwargs):
            save(obj, path, *args, **kwargs)
            if f'iter_{n:08d}' in path:
                with open(path, 'r+b') as f:
                    f.truncate(os.path.getsize(path) // 2)
                kill()
        paddle.save = half_write_then_die  # fileio.atomic_save looks it up at call time
    import train
    from ppuhd.utils import cli
    sys.argv = ['train.py', *train_args]
    cli.run(train.main)  # as tools/train.py: a user error is one line and exit status 2


if __name__ == '__main__':
    main()
