"""Amplitude / phase helpers for Fourier-domain blocks."""
from typing import Tuple

import paddle


def amplitude_phase(spec: paddle.Tensor) -> Tuple[paddle.Tensor, paddle.Tensor]:
    """|X| and angle(X) of a complex spectrum, matching ``torch.abs`` / ``torch.angle``.

    The phase is ``atan2(imag + 0.0, real)``: adding +0.0 turns a signed zero
    ``-0.0`` into ``+0.0``, so a real negative bin (DC / Nyquist of an rfft)
    gets +pi as in PyTorch and never -pi, which would flip the
    reconstructed value (FACTS, UHDFour trap).
    """
    real, imag = paddle.real(spec), paddle.imag(spec)
    return paddle.abs(spec), paddle.atan2(imag + 0.0, real)


def polar_to_complex(mag: paddle.Tensor, pha: paddle.Tensor) -> paddle.Tensor:
    """mag * exp(i * pha)."""
    return paddle.complex(mag * paddle.cos(pha), mag * paddle.sin(pha))
