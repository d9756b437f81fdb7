"""ppuhd: PaddlePaddle reproductions of ViT/DeiT, UHDFour and LLFormer."""
__version__ = '0.1.0'

from .registry import MODELS, LOSSES, TASKS, DATASETS  # noqa: E402
from . import models  # noqa: E402,F401  (fills MODELS)


def create_model(name: str, **kwargs):
    """Build the registered model ``name`` (see ``ppuhd.list_models()``)."""
    return MODELS.get(name)(**kwargs)


def list_models():
    """Names of every registered model."""
    return list(MODELS)
