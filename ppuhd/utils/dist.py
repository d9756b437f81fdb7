"""Distributed helpers over ``paddle.distributed`` (gloo on CPU, NCCL on GPU)."""
import numpy as np
import paddle
import paddle.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main_process() -> bool:
    return rank() == 0


def init_distributed() -> bool:
    """Initialise the process group when started by ``paddle.distributed.launch``."""
    if paddle.distributed.ParallelEnv().world_size > 1 and not dist.is_initialized():
        dist.init_parallel_env()
    return world_size() > 1


def all_reduce_sum(values: np.ndarray) -> np.ndarray:
    """Sum a float64 vector over all ranks (identity on one process)."""
    values = np.asarray(values, dtype='float64')
    if world_size() == 1:
        return values
    tensor = paddle.to_tensor(values)
    dist.all_reduce(tensor)
    return tensor.numpy()


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()
