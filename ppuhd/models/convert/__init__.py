"""Official PyTorch weights -> Paddle state dicts, one small key map per model.

    paddle_sd, report = convert_state_dict('uhdfour', load_checkpoint('UHDFour.pth'))

Adding a model: a new file whose converter is decorated with
``@register_converter('<arch>')``, plus its import below.
"""
from . import uhdfour, vgg  # noqa: F401  (fill CONVERTERS)
from . import regnet, vit  # noqa: F401,E402
from . import llformer  # noqa: F401
from . import ipt  # noqa: F401
from . import edt, espcn  # noqa: F401
from .common import (CONVERTERS, ConversionReport, check_and_build, convert_state_dict, load_checkpoint,
                     load_npz, load_torch_checkpoint, register_converter, strip_prefix, unwrap_state_dict)

__all__ = ['CONVERTERS', 'ConversionReport', 'check_and_build', 'convert_state_dict', 'load_checkpoint',
           'load_npz', 'load_torch_checkpoint', 'register_converter', 'strip_prefix', 'unwrap_state_dict']
