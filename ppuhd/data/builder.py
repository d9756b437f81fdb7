"""Building a dataset from a resolved config."""
import inspect

from ..registry import DATASETS


def build_dataset(cfg: dict, split: str, model=None):
    """``cfg['data'][split]``; image-to-image datasets also get the model's ``image_io`` (crop multiple, scale),
    multi-task datasets the model's ``task_image_io`` (one contract per task of a multi-task model)."""
    data_cfg = cfg['data'][split]
    image_io = getattr(model, 'image_io', None)
    task_io = getattr(model, 'task_image_io', None) if image_io is None else None
    if task_io:
        cls = DATASETS.get(data_cfg['type'])
        if 'task_image_io' not in inspect.signature(cls).parameters:
            raise ValueError(f"data.{split}: the model has several tasks {list(task_io)} and takes one input per "
                             f"task; {data_cfg['type']} yields one: use type MultiTaskDataset with one dataset "
                             'config per task (configs/edt/edt_b_sr_x2x3x4_imagenet200k.yml)')
        return DATASETS.build(data_cfg, task_image_io=task_io)
    return DATASETS.build(data_cfg, **({'image_io': image_io} if image_io is not None else {}))
