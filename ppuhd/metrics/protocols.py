"""Named evaluation protocols: each paper's own way of measuring PSNR/SSIM, as keyword arguments of the metrics.

A protocol is named in the config (``eval.protocol: edt_sr``), never implied by the dataset. It expands into
the ``psnr`` and ``ssim`` keyword arguments of :mod:`ppuhd.metrics.image`; ``crop_border: scale`` means the
model's scale for SR (and 0 at scale 1, as BasicSR and IPT do for denoising and deraining).

=============== ======= ====== ======== ==========================================================
protocol        color   crop   quantize source
=============== ======= ====== ======== ==========================================================
``sr_y``        Y       scale  no       the standard (BasicSR ``calculate_psnr(..., test_y_channel)``)
``edt_sr``      Y       scale  yes      fenglinglwb/EDT ``test_sample.py`` SR tasks
``edt_denoise`` RGB     0      yes      EDT denoising
``edt_derain``  Y       0      yes      EDT deraining
``ipt_sr``      Y       scale  yes      huawei-noah/Pretrained-IPT ``utility.calc_psnr``, SR
``ipt_denoise`` Y       0      yes      IPT denoising (Y for every task)
``ipt_derain``  Y       0      yes      IPT deraining
=============== ======= ====== ======== ==========================================================

Common to all: Y = BT.601 luma of RGB (float64, unrounded: :func:`ppuhd.metrics.image.rgb_to_y`), the
prediction clamped to [0, 1], SSIM with the 11x11 Gaussian window (sigma 1.5) of Wang et al., which is what
EDT's ``calculate_ssim`` computes. ``quantize`` rounds prediction and target to 8-bit levels first: EDT
measures ``tensor2img`` output (clamp, x255, round) against the uint8 ground truth; IPT measures
``utility.quantize`` output. IPT computes Y of the difference with ``[65.738, 129.057, 25.064] / 256``,
i.e. the BT.601 weights scaled by 256/255 to 4 decimals: the PSNR differs from ours by < 1e-4 dB. IPT
reports PSNR only; its presets add SSIM with the same conventions.
"""
import copy
from typing import Dict, Optional

_SSIM = {'window': 'gaussian11'}


def _preset(color: str, crop, quantize: bool) -> Dict[str, dict]:
    common = {'data_range': 1.0, 'clamp': True, 'color': color, 'crop_border': crop, 'quantize': quantize}
    return {'psnr': dict(common), 'ssim': dict(common, **_SSIM)}


PROTOCOLS: Dict[str, Dict[str, dict]] = {
    'sr_y': _preset('y', 'scale', False),
    'edt_sr': _preset('y', 'scale', True),
    'edt_denoise': _preset('rgb', 0, True),
    'edt_derain': _preset('y', 0, True),
    'ipt_sr': _preset('y', 'scale', True),
    'ipt_denoise': _preset('y', 0, True),
    'ipt_derain': _preset('y', 0, True),
}


def resolve_metrics(metrics: Optional[Dict[str, Optional[dict]]] = None, protocol: Optional[str] = None,
                    scale: int = 1) -> Dict[str, dict]:
    """The metric name -> keyword arguments that ``compute_metrics`` takes, for a model of ``scale``.

    ``protocol`` (a key of :data:`PROTOCOLS`) sets ``psnr`` and ``ssim`` entirely; other metrics of
    ``metrics`` (``mae``, ``lpips``, ...) are kept as configured. Any ``crop_border: scale`` becomes
    ``scale`` (0 when ``scale`` is 1). Entries set to None stay None (the batched evaluation of
    classification leaves them out).

    Args:
        metrics: ``eval.metrics`` of the config.
        protocol: ``eval.protocol`` of the config, or None.
        scale: the model's ``image_io.scale``.

    Raises:
        KeyError: unknown protocol (the known ones are listed).
        ValueError: a ``crop_border`` that is neither an integer nor 'scale'.
    """
    if int(scale) != scale or scale < 1:
        raise ValueError(f'scale must be a positive integer, got {scale!r}')
    out = {name: None if kwargs is None else dict(kwargs) for name, kwargs in (metrics or {}).items()}
    if protocol is not None:
        if protocol not in PROTOCOLS:
            raise KeyError(f"Unknown eval.protocol '{protocol}'; valid protocols: {', '.join(sorted(PROTOCOLS))}")
        out.update(copy.deepcopy(PROTOCOLS[protocol]))
    for name, kwargs in out.items():
        crop = (kwargs or {}).get('crop_border', 0)
        if crop == 'scale':
            kwargs['crop_border'] = int(scale) if scale > 1 else 0
        elif not (isinstance(crop, int) and not isinstance(crop, bool) and crop >= 0):
            raise ValueError(f"eval.metrics.{name}.crop_border must be an integer >= 0 or 'scale', got {crop!r}")
    return out
