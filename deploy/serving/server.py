"""Start the HTTP service on a model exported by tools/export.py.

    python deploy/serving/server.py --model-dir export/uhdfour [--host 127.0.0.1 --port 8000 --pool 1 --queue 4]
    curl --data-binary @dark.png -H 'Content-Type: image/png' http://127.0.0.1:8000/v1/enhance -o enhanced.png

Binds 127.0.0.1 unless --host says otherwise. Set PPUHD_API_KEY to require an X-API-Key header.
"""
import argparse
import os
import sys

import uvicorn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))

from app import create_app  # noqa: E402
from predictor import DeployError, RunOptions  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model-dir', required=True, help='folder written by tools/export.py')
    p.add_argument('--host', default='127.0.0.1', help='interface to bind (default: loopback only)')
    p.add_argument('--port', type=int, default=8000)
    p.add_argument('--pool', type=int, default=1, help='predictors (requests running at once)')
    p.add_argument('--queue', type=int, default=4, help='requests that may wait; more get 503')
    p.add_argument('--threads', type=int, default=os.cpu_count() or 1, help='CPU threads per predictor')
    p.add_argument('--precision', default='fp32', help='fp32 | bf16 (CPU oneDNN) | fp16 (GPU)')
    p.add_argument('--device', default='cpu', help='cpu | gpu')
    p.add_argument('--reuse-memory', action='store_true',
                   help='keep freed memory for the next tensors (glibc): faster on UHD images, higher peak memory')
    p.add_argument('--max-upload-mb', type=float, default=50)
    p.add_argument('--max-pixels', type=int, default=3840 * 2160, help='largest decoded image (width * height)')
    args = p.parse_args(argv)
    opts = RunOptions(device=args.device, threads=args.threads, precision=args.precision,
                      reuse_memory=args.reuse_memory)
    try:
        app = create_app(args.model_dir, opts, pool_size=args.pool, queue_size=args.queue,
                         max_upload_bytes=int(args.max_upload_mb * (1 << 20)), max_pixels=args.max_pixels,
                         api_key=os.environ.get('PPUHD_API_KEY') or None)
    except (DeployError, OSError) as err:
        sys.exit(f'error: {err}')
    uvicorn.run(app, host=args.host, port=args.port, log_level='info')


if __name__ == '__main__':
    main()
