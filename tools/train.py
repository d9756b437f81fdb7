"""Train a model from a config.

    python tools/train.py -c configs/uhdfour/uhdfour_demo.yml [-o key=value ...] [--resume auto|PATH] [--force-resume]
    python -m paddle.distributed.launch --nproc_per_node 2 tools/train.py -c ...
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from ppuhd.config import add_config_args, get_config  # noqa: E402
from ppuhd.engine import train  # noqa: E402
from ppuhd.utils import cli  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(parser)
    parser.add_argument('--resume', default=None,
                        help="'auto' to continue from the newest valid checkpoint of the run, or a checkpoint path")
    parser.add_argument('--force-resume', action='store_true',
                        help='resume although the seed, batch size, accumulation, world size, total_iters or model '
                             'differ from the run that wrote the checkpoint')
    args = parser.parse_args(argv)
    cfg = get_config(args.config, args.override)
    trainer = train(cfg, resume=args.resume, force_resume=args.force_resume)
    if trainer.best:
        print(f"best {trainer.best['metric']} {trainer.best['value']:.4f} at iteration {trainer.best['iter']}")
    return 0


if __name__ == '__main__':
    cli.run(main)
