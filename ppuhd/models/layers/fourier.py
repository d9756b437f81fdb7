"""Amplitude / phase helpers for Fourier-domain blocks.

Two formulations of the same values. The plain functions are what a model's ``forward`` runs, in
dygraph and when ``forward`` is traced for training: PyTorch's values and gradients. The ``*_inference``
functions are for graphs that are never differentiated and whose sizes are only known at run time
(UHDFour's export variant, ``ppuhd/models/uhdfour_deploy.py``): no gradient guards, fewer full-size passes.
"""
from typing import Tuple

import paddle

from .dynamic import Dim, spatial_size

# A map whose variation along W (or H) is below ROUNDOFF_FLOOR of its RMS is constant along that axis
# up to float32 round-off: its spectrum bins off column 0 (row 0) are zero in exact arithmetic, and are
# set to exact zeros (magnitude 0, phase 0). See :func:`roundoff_bins` and docs/deploy.md.
ROUNDOFF_FLOOR = 2.0 ** -16


def amplitude_phase(spec: paddle.Tensor) -> Tuple[paddle.Tensor, paddle.Tensor]:
    """|X| and angle(X) of a complex rfft2 spectrum [..., H, W//2 + 1], with PyTorch's values and gradients.

    * The phase is ``atan2(imag + 0.0, real)``: adding +0.0 turns a signed zero
      ``-0.0`` into ``+0.0``, so a real negative bin (DC / Nyquist of an rfft)
      gets +pi as in PyTorch and never -pi, which would flip the reconstructed
      value (FACTS, UHDFour trap).
    * At X = 0 (every non-DC bin of a constant image) the gradients of |X| and
      atan2 are 0/0 = NaN in Paddle; PyTorch defines both as 0 there
      (``sgn(0) = 0`` and ``angle_backward`` masks zeros). Exact zeros are
      routed through a safe dummy value so the gradient is 0, as in PyTorch.
    * Bins that are zero in exact arithmetic but carry round-off (every non-DC
      bin of a map that is constant up to round-off, :func:`roundoff_bins`)
      are exact zeros too: their phase would be noise, which the phase convs
      of UHDFour turn into an output that depends on the kernels' rounding.
    """
    real, imag = paddle.real(spec), paddle.imag(spec) + 0.0
    size = real.shape[-2:]  # ints where known: a forward traced with fixed sizes keeps static shapes
    flat = roundoff_bins(*_flat_axes(real * real + imag * imag, size), size)
    # Paddle's float == is |a - b| < 1e-15 (phi EqualFunctor): zeros up to 1e-15, not an |X|^2 == 0 test,
    # which would take every bin below 3e-8
    zero = paddle.logical_or(paddle.logical_and(real == 0, imag == 0), flat)
    safe_real = paddle.where(zero, paddle.ones_like(real), real)
    safe_imag = paddle.where(zero, paddle.zeros_like(imag), imag)
    mag = paddle.where(zero, paddle.zeros_like(real), paddle.sqrt(safe_real * safe_real + safe_imag * safe_imag))
    pha = paddle.where(zero, paddle.zeros_like(real), paddle.atan2(safe_imag, safe_real))
    return mag, pha


def _flat_axes(power: paddle.Tensor, size) -> Tuple[paddle.Tensor, paddle.Tensor]:
    """Per map ([..., 1, 1] bools): is it constant along W, along H, up to round-off?

    ``power`` is |X|^2 of an rfft2 half spectrum [..., H, W//2 + 1], ``size`` its last two dims. By
    Parseval the energy of the bins off column 0 is the map's variation along W (rows minus their
    means), that of the bins off row 0 its variation along H. A map is flat along an axis when that
    energy is at most ROUNDOFF_FLOOR^2 of the total, i.e. the variation's RMS is at most 2^-16 (256
    ulps of float32) of the map's RMS (half-spectrum sums: within a factor 2 of the full ones). Measured on UHDFour
    (docs/deploy.md): kernels that round differently leave at most 2^-17.2 at the block inputs of a
    constant image; the flattest map of dark real photos (skimage.data x 0.02, 8-bit) is at 2^-13.8.
    The sums are matrix products with 0/1 weights: no cancellation, one pass over ``power``.
    A decision threshold: no gradient flows through it.
    """
    power = power.detach()
    h, w = size
    col_weights = paddle.stack([paddle.ones([w]), (paddle.arange(w) > 0).astype('float32')], axis=1)
    row_weights = paddle.stack([paddle.ones([h]), (paddle.arange(h) > 0).astype('float32')], axis=0)
    # [..., 2, 2]: [all rows, rows > 0] x [all columns, columns > 0]
    sums = paddle.matmul(row_weights, paddle.matmul(power, col_weights.astype(power.dtype)))
    limit = sums[..., 0:1, 0:1] * (ROUNDOFF_FLOOR * ROUNDOFF_FLOOR)
    return sums[..., 0:1, 1:2] <= limit, sums[..., 1:2, 0:1] <= limit


def roundoff_bins(flat_w: paddle.Tensor, flat_h: paddle.Tensor, size) -> paddle.Tensor:
    """True at the bins (of a half spectrum of ``size``) that are zero in exact arithmetic because the map is
    constant along an axis: off column 0 where ``flat_w``, off row 0 where ``flat_h`` (:func:`_flat_axes`)."""
    h, w = size
    lead = [1] * (len(flat_w.shape) - 2)
    off_col0 = (paddle.arange(w) > 0).reshape(lead + [1, -1])
    off_row0 = (paddle.arange(h) > 0).reshape(lead + [-1, 1])
    return paddle.logical_or(paddle.logical_and(flat_w, off_col0), paddle.logical_and(flat_h, off_row0))


def _self_conjugate_mask(x: paddle.Tensor, like: paddle.Tensor) -> paddle.Tensor:
    """0 at the rfft2 bins of ``x`` that are real in exact arithmetic (row 0 / H/2 x column 0 / W/2), else 1.

    Expanded to the shape of ``like``: Paddle's CPU multiply broadcasting over N and C runs ~5x slower
    than an expand plus a same-shape multiply (1080p UHDFour, Paddle Inference: 47 ms -> 9 ms per call).
    """
    h, w = spatial_size(x)
    rows, cols = paddle.arange(h), paddle.arange(w // 2 + 1)
    real_rows = paddle.logical_or(rows == 0, rows * 2 == h).unsqueeze(1)
    real_cols = paddle.logical_or(cols == 0, cols * 2 == w).unsqueeze(0)
    keep_imag = paddle.logical_not(paddle.logical_and(real_rows, real_cols)).astype(x.dtype)
    return keep_imag.reshape([1] * (len(x.shape) - 2) + [h, -1]).expand(paddle.shape(like))


def rfft2(x: paddle.Tensor) -> paddle.Tensor:
    """``paddle.fft.rfft2(x, norm='backward')`` of a real [..., H, W] tensor, with exactly real self-conjugate bins.

    The bins at row 0 / H/2 and column 0 / W/2 (the halves only for even sizes)
    are real in exact arithmetic, but Paddle's FFT leaves round-off of either
    sign (~1e-9 relative) in their imaginary part for some sizes (e.g. 12x20),
    where PyTorch returns exactly 0. At a negative real bin that sign flips the
    phase between +pi and -pi, which the UHDFour phase convs amplify into a
    visible change of the output. Zeroing the round-off gives the phase PyTorch
    gives at every power-of-two size (all of the official 512x512 training).
    """
    return paddle.complex(*_rfft2_parts(x))


def _rfft2_parts(x: paddle.Tensor) -> Tuple[paddle.Tensor, paddle.Tensor]:
    """Real and imaginary part of :func:`rfft2` (imag * 0 may be -0.0; the phase maps it to +0.0)."""
    spec = paddle.fft.rfft2(x, norm='backward')
    imag = paddle.imag(spec)
    return paddle.real(spec), imag * _self_conjugate_mask(x, imag)


def rfft2_amplitude_phase(x: paddle.Tensor) -> Tuple[paddle.Tensor, paddle.Tensor]:
    """``amplitude_phase(rfft2(x))``."""
    return amplitude_phase(rfft2(x))


def rfft2_amplitude_phase_inference(x: paddle.Tensor) -> Tuple[paddle.Tensor, paddle.Tensor]:
    """The values of :func:`rfft2_amplitude_phase`, for graphs that are never differentiated.

    Fewer full-size passes: the complex tensor is not rebuilt and the zero-gradient guards are left
    out (exact zeros give magnitude 0 and atan2(0, 0) = 0 as they are). The round-off bins of flat
    maps are zeroed by a multiply in a branch that only images with such maps take (its zeros may be
    -0.0: the same values once summed). (``paddle.abs`` of the complex spectrum would save three
    passes but its CPU kernel is ~4x slower than them.)
    """
    real, imag = _rfft2_parts(x)
    imag = imag + 0.0  # -0.0 -> +0.0, as amplitude_phase
    power = real * real + imag * imag
    mag, pha = paddle.sqrt(power), paddle.atan2(imag, real + 0.0)
    size = spatial_size(power)
    flat_w, flat_h = _flat_axes(power, size)

    def zero_roundoff_bins():
        keep = paddle.logical_not(roundoff_bins(flat_w, flat_h, size)).astype(power.dtype)
        return mag * keep, pha * keep
    return paddle.static.nn.cond(paddle.any(paddle.logical_or(flat_w, flat_h)), zero_roundoff_bins,
                                 lambda: (mag, pha))


def irfft2(spec: paddle.Tensor, size: Tuple[int, int]) -> paddle.Tensor:
    """``paddle.fft.irfft2(spec, s=size, norm='backward')``; ``size`` (ints) must be known while tracing.

    A graph whose H and W are only known at run time uses :func:`irfft2_inference`.
    """
    if not all(isinstance(s, int) and s >= 0 for s in size):
        raise ValueError('irfft2 needs the output size (H, W) as ints; H and W are only known at run time in '
                         'this graph: trace forward with fixed input sizes, or export the model\'s deploy_layer()')
    return paddle.fft.irfft2(spec, s=tuple(size), norm='backward')


def irfft2_inference(spec: paddle.Tensor, size: Tuple[Dim, Dim]) -> paddle.Tensor:
    """:func:`irfft2` for a graph with dynamic H and W (equal to float round-off).

    A static graph cannot pass ``s`` ("FFT sizes contains invalid value" for
    unknown dims); without ``s`` the output width is 2 * (bins - 1), which is W
    only for even W. So the graph branches: even W (every level of a 4K or 1080p
    UHDFour) runs the same ``irfft2`` kernel without ``s``, odd W (e.g. LowNet's
    W/8 = 5 for W = 40) the Hermitian extension of :func:`_irfft2_full`.
    """
    w = size[1]
    def even():
        return paddle.fft.irfft2(spec, norm='backward')
    if isinstance(w, int):  # the same formulas, picked while running eagerly (tests)
        return even() if w % 2 == 0 else _irfft2_full(spec, w)
    return paddle.static.nn.cond(w % 2 == 0, even, lambda: _irfft2_full(spec, w))


def _irfft2_full(spec: paddle.Tensor, w: Dim) -> paddle.Tensor:
    """irfft2 of an [..., H, W//2 + 1] half spectrum to width ``w`` through full complex inverse FFTs.

    An inverse FFT over H, then the half spectrum over W is extended
    Hermitian-symmetrically to ``w`` bins, inverse-transformed, and its real part
    taken: exactly what a complex-to-real transform computes (it uses only the
    real part of the DC and, for even W, Nyquist bins), equal to float round-off
    (~1e-7 relative), at about four times the memory of the real transform.
    """
    cols = paddle.fft.ifft(spec, axis=-2, norm='backward')
    # bins 1 .. W - W//2 - 1 (all but DC and the even-W Nyquist bin) reappear conjugated, reversed
    mirrored = paddle.conj(paddle.flip(cols[..., 1:w - w // 2], axis=[-1]))
    full = paddle.concat([cols, mirrored], axis=-1)
    return paddle.real(paddle.fft.ifft(full, axis=-1, norm='backward'))


def polar_to_complex(mag: paddle.Tensor, pha: paddle.Tensor) -> paddle.Tensor:
    """mag * exp(i * pha)."""
    return paddle.complex(mag * paddle.cos(pha), mag * paddle.sin(pha))
