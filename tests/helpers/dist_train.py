"""Train under paddle.distributed.launch and dump this rank's parameters to <out>/rank<r>.npz."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))

import numpy as np  # noqa: E402

from ppuhd.config import get_config  # noqa: E402
from ppuhd.engine import train  # noqa: E402
from ppuhd.utils import dist  # noqa: E402


def main():
    config, *overrides = sys.argv[1:]
    cfg = get_config(config, overrides)
    trainer = train(cfg)
    params = {k: v.numpy() for k, v in trainer.task.model.state_dict().items()}
    np.savez(os.path.join(cfg['output_dir'], f'rank{dist.rank()}.npz'), world=dist.world_size(), **params)


if __name__ == '__main__':
    main()
