"""Build a timm (or deit) model with random weights and record its outputs, in its own process.

Used by ``tests/test_official_parity_vit.py``. timm imports torchvision, whose PyPI build
does not import next to the CPU torch here; timm's models never call it, so when
torchvision is missing a stand-in package is installed in THIS process only (every
attribute is a placeholder class that refuses to be instantiated). timm 0.3.2 (the version
deit pins) also imports ``torch._six``, gone from torch 2; it gets the three names it uses.

    python timm_reference.py --timm-src DIR --out DIR --arch deit_tiny_distilled_patch16_224 \
        [--deit-src DEIT_CHECKOUT] [--kwargs '{"img_size": 64}'] [--size 64 64]

``--finetune-from OTHER_OUT`` loads OTHER_OUT's weights through timm's ``checkpoint_filter_fn``
(position embedding resampled to this model's grid) instead of randomizing.

Writes ``out/weights.pth`` ({'model': state_dict}) and ``out/ref.npz`` (input, eval logits,
features; for distilled models the train-mode (cls, dist) logits).

    python timm_reference.py --timm-src DIR --out DIR --resample 14 14 24 24 --prefix 1

instead writes ``out/ref.npz`` with a random ``pos_embed`` and timm's ``resample_abs_pos_embed``
of it with antialias off (deit --finetune) and on (timm default).
"""
import argparse
import collections.abc
import importlib.abc
import importlib.machinery
import json
import os
import sys
import types

import numpy as np
import torch


class _Placeholder(type):
    def __getattr__(cls, name):
        if name.startswith('__'):
            raise AttributeError(name)
        sub = _Placeholder(name, (cls,), {})  # a distinct class per name: timm keys dicts by them
        setattr(cls, name, sub)
        return sub

    def __call__(cls, *args, **kwargs):
        raise RuntimeError(f'torchvision stand-in: {cls.__name__} is not available in this process')


class _StubRoot(metaclass=_Placeholder):
    pass


def _stub_getattr(name):
    if name.startswith('__'):
        raise AttributeError(name)
    return getattr(_StubRoot, name)


class _TorchvisionStub(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name == 'torchvision' or name.startswith('torchvision.'):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = _stub_getattr
        return module

    def exec_module(self, module):
        pass


def _prepare_imports(timm_src):
    try:
        import torchvision  # noqa: F401
    except Exception:  # missing or broken (CUDA build): timm only needs the names to exist
        for name in [m for m in sys.modules if m == 'torchvision' or m.startswith('torchvision.')]:
            del sys.modules[name]
        sys.meta_path.insert(0, _TorchvisionStub())
    if 'torch._six' not in sys.modules:
        six = types.ModuleType('torch._six')
        six.container_abcs, six.string_classes, six.int_classes = collections.abc, (str, bytes), int
        sys.modules['torch._six'] = six
    sys.path.insert(0, timm_src)


def _randomize(model, seed):
    """Perturb every weight so that a LayerNorm/BN scale-bias or running-stat mix-up cannot pass."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            noise = torch.randn(tensor.shape, generator=gen)
            if name.endswith('running_var'):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=gen))
            elif name.endswith('running_mean') or tensor.ndim == 1:
                tensor.add_(0.1 * noise)
            elif tensor.abs().max() == 0:  # e.g. zero-initialised tokens
                tensor.copy_(0.02 * noise)


def _build(args):
    import timm
    kwargs = json.loads(args.kwargs)
    if args.deit_src:
        sys.path.insert(0, args.deit_src)
        import models as deit_models  # deit's own models.py, on the timm in --timm-src
        return getattr(deit_models, args.arch)(**kwargs)
    return timm.create_model(args.arch, **kwargs)


def _resample(args):
    from timm.layers import resample_abs_pos_embed
    old_h, old_w, new_h, new_w = args.resample
    pos = torch.from_numpy(np.random.default_rng(3).standard_normal(
        (1, args.prefix + old_h * old_w, 32)).astype('float32'))
    ref = {'pos_embed': pos.numpy()}
    for antialias in (False, True):
        out = resample_abs_pos_embed(pos, (new_h, new_w), (old_h, old_w), args.prefix, antialias=antialias)
        ref[f'antialias_{antialias}'] = out.numpy()
    return ref


def _record(args):
    torch.manual_seed(0)
    model = _build(args)
    if args.finetune_from:  # timm's own loading of a checkpoint of another grid (pos_embed resampled)
        from timm.models.vision_transformer import checkpoint_filter_fn
        state = torch.load(os.path.join(args.finetune_from, 'weights.pth'))['model']
        model.load_state_dict(checkpoint_filter_fn(state, model))
    else:
        _randomize(model, 1)
    model.eval()
    size = args.size or tuple(getattr(getattr(model, 'patch_embed', None), 'img_size', (224, 224)))
    x = torch.from_numpy(np.random.default_rng(2).standard_normal((args.batch, 3, *size)).astype('float32'))
    ref = {'x': x.numpy()}
    with torch.no_grad():
        ref['logits'] = model(x).numpy()
        features = model.forward_features(x)
        features = torch.stack(features, 1) if isinstance(features, tuple) else features  # deit: (cls, dist)
        ref['features'] = features.numpy()
        if hasattr(model, 'head_dist'):
            model.train()
            if hasattr(model, 'set_distilled_training'):
                model.set_distilled_training(True)
            ref['train_cls'], ref['train_dist'] = (t.numpy() for t in model(x))
    torch.save({'model': model.state_dict()}, os.path.join(args.out, 'weights.pth'))
    return ref


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--timm-src', required=True)
    parser.add_argument('--deit-src', default='')
    parser.add_argument('--arch', default='')
    parser.add_argument('--kwargs', default='{}')
    parser.add_argument('--size', type=int, nargs=2, default=None, help='input H W (default: the model img_size)')
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--out', required=True)
    parser.add_argument('--finetune-from', default='', help='an --out folder whose weights to load (ViT)')
    parser.add_argument('--resample', type=int, nargs=4, default=None, metavar=('OLD_H', 'OLD_W', 'NEW_H', 'NEW_W'))
    parser.add_argument('--prefix', type=int, default=1, help='prefix tokens of --resample')
    args = parser.parse_args()
    _prepare_imports(args.timm_src)
    os.makedirs(args.out, exist_ok=True)
    np.savez(os.path.join(args.out, 'ref.npz'), **(_resample(args) if args.resample else _record(args)))
    print(json.dumps({'timm': __import__('timm').__version__}))


if __name__ == '__main__':
    main()
