"""Run tools/train.py, but SIGKILL this process at a chosen moment (a real crash, for resume tests).

    python killed_train.py at-iter N  -- <train.py args>   killed inside training iteration N+1
    python killed_train.py in-write N -- <train.py args>   killed half-way through writing checkpoint iter_N
"""
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
    sys.exit(train.main(train_args))


if __name__ == '__main__':
    main()
