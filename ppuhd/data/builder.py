"""Building a dataset from a resolved config."""
from ..registry import DATASETS


def build_dataset(cfg: dict, split: str, model=None):
    """``cfg['data'][split]``; image-to-image datasets also get the model's ``image_io`` (crop multiple, scale)."""
    image_io = getattr(model, 'image_io', None)
    return DATASETS.build(cfg['data'][split], **({'image_io': image_io} if image_io is not None else {}))
