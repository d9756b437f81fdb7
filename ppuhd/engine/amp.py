"""Automatic mixed precision on GPU (fp16 with loss scaling, or bf16); fp32 elsewhere."""
import contextlib
from typing import Optional

import paddle

from ..utils.logger import get_logger

AMP_DTYPES = ('float16', 'bfloat16')


class Amp:
    """Autocast context, loss scaling and the optimizer step.

    Args:
        dtype: None for fp32, 'float16' (with a GradScaler) or 'bfloat16'. On a CPU the
            request is ignored with a one-line warning: Paddle's auto_cast does nothing
            there and there are no bf16 training kernels (FACTS, Paddle 3 traps).
        init_loss_scaling: initial fp16 loss scale.
    """

    def __init__(self, dtype: Optional[str] = None, init_loss_scaling: float = 2.0 ** 16):
        if dtype is not None and dtype not in AMP_DTYPES:
            raise ValueError(f"train.amp must be null, 'float16' or 'bfloat16', got {dtype!r}")
        if dtype and not paddle.get_device().startswith('gpu'):
            get_logger().warning('AMP (%s) was requested but the device is %s: training in fp32',
                                 dtype, paddle.get_device())
            dtype = None
        self.dtype = dtype
        self.scaler = paddle.amp.GradScaler(init_loss_scaling=init_loss_scaling) if dtype == 'float16' else None

    def autocast(self):
        if not self.dtype:
            return contextlib.nullcontext()
        return paddle.amp.auto_cast(enable=True, dtype=self.dtype, level='O1')

    def backward(self, loss: paddle.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def step(self, optimizer) -> None:
        if self.scaler:
            self.scaler.step(optimizer)  # unscales first, so global-norm clipping sees true gradients
            self.scaler.update()
        else:
            optimizer.step()

    def state_dict(self):
        return self.scaler.state_dict() if self.scaler else None

    def set_state_dict(self, state) -> None:
        if self.scaler and state:
            self.scaler.load_state_dict(state)
