"""Convert official PyTorch weights to a Paddle ``.pdparams`` of the matching ppuhd model.

    python tools/convert_weights.py --arch uhdfour --src UHDFour_UHD.pth --dst weights/uhdfour_uhdll.pdparams
    python tools/convert_weights.py --arch deit_small_distilled_patch16_224 \
        --src deit_small_distilled_patch16_224-649709d9.pth --dst pretrained/deit_small_distilled_patch16_224.pdparams
    python tools/convert_weights.py --list

``--src`` may be a torch checkpoint (.pth/.pt/.tar/.ckpt/.bin, needs torch), an
``np.savez`` archive of the same names (.npz, no torch needed), a .safetensors file
(timm's hub weights, needs safetensors) or a Paddle .pdparams (e.g. PaddleClas DeiT/ViT). The result is
validated strictly: every missing, unexpected or mis-shaped tensor is an error.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

import paddle  # noqa: E402

from ppuhd.models.convert import CONVERTERS, convert_state_dict, load_checkpoint  # noqa: E402
from ppuhd.utils import cli  # noqa: E402
from ppuhd.utils.fileio import atomic_save  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--arch', choices=sorted(CONVERTERS), help='target architecture')
    parser.add_argument('--src', help='official checkpoint (.pth/.pt/..., .npz, .safetensors or .pdparams)')
    parser.add_argument('--dst', help='output .pdparams')
    parser.add_argument('--trust-pickle', action='store_true',
                        help='let torch / Paddle unpickle arbitrary objects, which can run code '
                             '(only for files you trust)')
    parser.add_argument('--list', action='store_true', help='print the supported architectures and exit')
    args = parser.parse_args(argv)
    if args.list:
        print('\n'.join(sorted(CONVERTERS)))
        return 0
    if not (args.arch and args.src and args.dst):
        parser.error('--arch, --src and --dst are required (or --list)')
    state, report = convert_state_dict(args.arch, load_checkpoint(args.src, args.trust_pickle))
    atomic_save({k: paddle.to_tensor(v) for k, v in state.items()}, args.dst)
    print(report.summary())
    print(f'saved {args.dst}')
    return 0


if __name__ == '__main__':
    cli.run(main)
