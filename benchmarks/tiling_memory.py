"""Peak memory (RSS) of tiled inference vs image and tile size, one fresh process per case.

    python benchmarks/tiling_memory.py --model llformer --sizes 1080x1920 --tiles 256 384
    python benchmarks/tiling_memory.py --model uhdfour --sizes 1080x1920 2160x3840 --tiles 512 1024 0
    python benchmarks/tiling_memory.py --model identity --sizes 2160x3840 4320x7680 --tiles 512
    python benchmarks/tiling_memory.py --model edt_b_sr_x2 --sizes 1080x1920 --tiles 192 --max-model-tiles 2

Super-resolution models (``image_io.scale`` > 1) write a ``scale`` x larger output (1080p -> 4K for x2);
``--sizes`` is the input size. ``--max-model-tiles K`` runs the model on the first K tiles only and
gives the later ones zeros of the output tile's shape: the tiling engine still allocates the full-size
input, accumulator and weight map and blends every tile, and every tile has the same shape (border
tiles are flush with the image), so the peak RSS is that of the full pass; the time of the full pass
is extrapolated from the K model tiles (``est_seconds``). For models too slow to run every tile here
(EDT-B: minutes per 192x192 tile on 2 loaded cores).

Each case runs in its own subprocess (``--case``) so ``ru_maxrss`` is that case's peak alone,
including the interpreter, Paddle and the random weights; ``--tiles 0`` is whole-image mode.
``identity`` measures the tiling engine alone (padded input, accumulator, weight map, output).
Prints a Markdown table and writes the rows as JSON (``--json``). Timings depend on the load of
the machine; say so when quoting them.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))


def _limited(fn, max_tiles: int, timings: list):
    """``fn`` on the first ``max_tiles`` tile batches (timed); zeros of the same output shape afterwards."""
    shape = {}

    def run(tiles):
        if len(timings) < max_tiles:
            start = time.perf_counter()
            out = fn(tiles)
            timings.append(time.perf_counter() - start)
            shape['out'] = out.shape[1:]
            return out
        import numpy as np
        return np.zeros((len(tiles),) + shape['out'], np.float32)
    return run


def _case(model_name: str, size: str, tile: int, threads: int, max_model_tiles: int = 0) -> dict:
    import numpy as np
    import paddle

    import ppuhd
    from ppuhd.inference import TilingConfig, count_tiles, paddle_tile_fn, tiled_predict

    paddle.set_device('cpu')
    paddle.base.core.set_num_threads(threads)
    h, w = (int(v) for v in size.split('x'))
    if model_name == 'identity':
        fn, multiple, scale, channels = (lambda t: t), 16, 1, 3
    else:
        model = ppuhd.create_model(model_name).eval()
        io = model.image_io
        fn, multiple, scale, channels = paddle_tile_fn(model), io.size_multiple, io.scale, io.in_channels
    timings = []
    if max_model_tiles:
        fn = _limited(fn, max_model_tiles, timings)
    cfg = TilingConfig(tile=tile or None, overlap=(tile // 8, tile // 8) if tile else (0, 0), blend='cosine',
                       size_multiple=multiple, progress=False)
    image = np.random.default_rng(0).uniform(0, 0.3, (1, channels, h, w)).astype('float32')
    start = time.perf_counter()
    out = tiled_predict(fn, image, cfg)
    seconds = time.perf_counter() - start
    assert out.shape[-2:] == (h * scale, w * scale)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB
    tiles = count_tiles((h, w), cfg)
    row = {'model': model_name, 'size': size, 'output': f'{h * scale}x{w * scale}', 'tile': tile or 'whole',
           'tiles': tiles, 'model_tiles': len(timings) if max_model_tiles else tiles,
           'peak_rss_mb': round(peak_mb, 1), 'seconds': round(seconds, 1), 'threads': threads}
    if max_model_tiles and timings:
        row['est_seconds'] = round(seconds - sum(timings) + tiles * sum(timings) / len(timings), 1)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', default='llformer', help="registered model name, or 'identity'")
    parser.add_argument('--sizes', nargs='+', default=['1080x1920'], help='HxW of the synthetic input')
    parser.add_argument('--tiles', nargs='+', type=int, default=[256, 384], help='square tile sides; 0 = whole')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--max-model-tiles', type=int, default=0,
                        help='run the model on this many tiles only (zeros after; full-pass memory, time estimated)')
    parser.add_argument('--json', default='output/bench/tiling_memory.json')
    parser.add_argument('--case', nargs=3, metavar=('MODEL', 'SIZE', 'TILE'), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(_case(args.case[0], args.case[1], int(args.case[2]), args.threads, args.max_model_tiles)))
        return 0
    rows, failed = [], 0
    for size in args.sizes:
        for tile in args.tiles:
            proc = subprocess.run([sys.executable, __file__, '--threads', str(args.threads), '--max-model-tiles',
                                   str(args.max_model_tiles), '--case', args.model, size, str(tile)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                failed += 1
                print(f'{args.model} {size} tile {tile} failed:\n{proc.stderr[-2000:]}', file=sys.stderr)
                continue
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    print('\n| model | input | output | tile | tiles (model run) | peak RSS (MB) | time (s) |\n'
          '|---|---|---|---|---|---|---|')
    for r in rows:
        when = f"{r['est_seconds']} (est.)" if 'est_seconds' in r else r['seconds']
        print(f"| {r['model']} | {r['size']} | {r['output']} | {r['tile']} | {r['tiles']} ({r['model_tiles']}) | "
              f"{r['peak_rss_mb']} | {when} |")
    os.makedirs(os.path.dirname(args.json) or '.', exist_ok=True)
    with open(args.json, 'w') as f:
        json.dump(rows, f, indent=1)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
