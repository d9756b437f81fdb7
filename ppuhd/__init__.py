"""ppuhd: PaddlePaddle reproductions of ViT/DeiT, UHDFour and LLFormer."""
__version__ = '0.1.0'

from .registry import DATASETS, LOSSES, MODELS, TASKS  # noqa: E402
# Importing the subpackages fills the registries.
from . import data, losses, metrics, models, tasks  # noqa: E402,F401


def create_model(name: str, **kwargs):
    """Build the registered model ``name`` (see ``ppuhd.list_models()``)."""
    return MODELS.get(name)(**kwargs)


def list_models():
    """Names of every registered model."""
    return list(MODELS)
