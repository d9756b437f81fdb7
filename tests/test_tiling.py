"""Tiled inference (ppuhd/inference/tiling.py): coverage, blending, memory bound, config, task hook."""
import tracemalloc

import numpy as np
import paddle
import pytest
from scipy import ndimage

from ppuhd.inference import ImageIO, TilingConfig, count_tiles, make_tiling, paddle_tile_fn, tile_starts, tiled_predict
from ppuhd.tasks.enhancement import EnhancementTask

RNG = np.random.default_rng(0)


def _upscale2(tiles):
    """A 'model' with output scale 2 that is pointwise (no spatial context)."""
    return np.repeat(np.repeat(tiles * 1.5 - 0.1, 2, axis=2), 2, axis=3)


def _box3(tiles):
    """A small conv net stand-in: 3x3 box filter (receptive field 3) with edge padding per tile."""
    return ndimage.uniform_filter(tiles, size=(1, 1, 3, 3), mode='nearest')


@pytest.mark.parametrize('size,tile,stride', [(2160, 720, 360), (3840, 1280, 640), (4320, 720, 360),
                                              (7680, 1280, 640)])
def test_official_corners_on_uhd_sizes(size, tile, stride):
    # test_UHD.py image_to_patches: range(0, h - psize_h + 1, stride_h)
    assert tile_starts(size, tile, stride) == list(range(0, size - tile + 1, stride))


def test_official_preset_tile_counts():
    cfg = make_tiling('official_uhd')
    assert (cfg.tile, cfg.stride, cfg.blend, cfg.size_multiple, cfg.clamp) == ((720, 1280), (360, 640), 'average',
                                                                               16, (0.0, 1.0))
    assert count_tiles((2160, 3840), cfg) == 5 * 5 and count_tiles((4320, 7680), cfg) == 11 * 11


@pytest.mark.parametrize('size', [1000, 721, 1439, 200])
def test_border_tile_added_only_where_official_leaves_a_gap(size):
    starts = tile_starts(size, 720, 360)
    official = list(range(0, size - min(720, size) + 1, 360))
    assert starts[:len(official)] == official
    assert starts[-1] + min(720, size) == size  # everything covered, the last tile flush with the border


@pytest.mark.parametrize('blend', ['average', 'cosine'])
@pytest.mark.parametrize('batch_size', [1, 3])
def test_pointwise_model_is_reconstructed_exactly(blend, batch_size):
    x = RNG.uniform(0, 1, (2, 3, 75, 101)).astype('float32')  # odd sizes, padded to 16 inside
    cfg = TilingConfig(tile=(32, 48), overlap=(8, 12), blend=blend, batch_size=batch_size, size_multiple=16)
    out = tiled_predict(_upscale2, x, cfg)
    np.testing.assert_allclose(out, _upscale2(x), rtol=0, atol=2e-6)


def test_whole_image_mode_calls_fn_once_per_image():
    calls = []
    x = RNG.uniform(0, 1, (3, 50, 70)).astype('float32')
    out = tiled_predict(lambda t: calls.append(t.shape) or t, x, TilingConfig(tile=None, size_multiple=16))
    assert calls == [(1, 3, 64, 80)] and out.shape == x.shape
    np.testing.assert_array_equal(out, x)


def test_local_model_agrees_with_whole_image_and_cosine_is_closer():
    x = RNG.uniform(0, 1, (1, 3, 96, 128)).astype('float32')
    whole = _box3(x)
    errors = {}
    for blend in ('average', 'cosine'):
        cfg = TilingConfig(tile=(48, 64), overlap=(16, 16), blend=blend)
        errors[blend] = np.abs(tiled_predict(_box3, x, cfg) - whole).max()
    # only the 1-pixel tile rims differ from the whole image; the cosine ramp gives them low weight
    assert errors['cosine'] < 0.25 * errors['average'] and errors['average'] < 0.5
    # where a single tile covers a pixel away from its rim (top-left corner), the output is exact
    interior = TilingConfig(tile=(48, 64), overlap=(16, 16), blend='cosine')
    out = tiled_predict(_box3, x, interior)
    np.testing.assert_allclose(out[..., 1:-1, 1:-1][:, :, :20, :40], whole[..., 1:-1, 1:-1][:, :, :20, :40],
                               atol=1e-6)


def test_per_tile_bias_leaves_no_seam_with_the_cosine_window():
    bias = iter(RNG.uniform(-0.2, 0.2, 1000))

    def biased(tiles):
        return np.stack([t + next(bias) for t in tiles])

    x = np.full((1, 1, 128, 192), 0.5, 'float32')
    jumps = {}
    for blend in ('average', 'cosine'):
        out = tiled_predict(biased, x, TilingConfig(tile=(64, 64), overlap=(32, 32), blend=blend))[0, 0]
        jumps[blend] = max(np.abs(np.diff(out, axis=0)).max(), np.abs(np.diff(out, axis=1)).max())
    # average: the count changes in one step at a tile border, so the bias difference appears as a step;
    # cosine ramp over 32 px: a bias difference of at most 0.4 changes by <= 0.4 * pi / (2 * 32) per pixel
    assert jumps['cosine'] <= 0.4 * np.pi / 64 + 1e-6
    assert jumps['average'] > 3 * jumps['cosine']


def test_memory_is_bounded_by_the_tile_on_a_large_image():
    h, w, tile, batch = 1080, 1920, (128, 160), 2
    x = np.zeros((1, 3, h, w), 'float32')
    seen = []

    def fn(tiles):
        seen.append(tiles.size)
        return tiles + 1.0

    tracemalloc.start()
    out = tiled_predict(fn, x, TilingConfig(tile=tile, overlap=(16, 16), blend='cosine', batch_size=batch,
                                            progress=False))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert max(seen) <= batch * 3 * tile[0] * tile[1]
    assert out.shape == x.shape and np.all(out == 1.0)
    # full-size arrays: padded input, accumulator, 1-channel weight map, the cropped output (4 x 3 channels at most)
    assert peak < 4.2 * x.nbytes


def test_clamp_and_scale_detection():
    x = RNG.uniform(0, 1, (1, 3, 64, 64)).astype('float32')
    out = tiled_predict(lambda t: np.repeat(np.repeat(t * 3 - 1, 2, 2), 2, 3), x,
                        TilingConfig(tile=32, overlap=8, blend='average', clamp=(0, 1)))
    assert out.shape == (1, 3, 128, 128) and out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match='integer scale'):
        tiled_predict(lambda t: t[:, :, :-1], x, TilingConfig(tile=32, overlap=8))


def test_config_errors_name_the_key():
    with pytest.raises(KeyError, match='tile_size'):
        make_tiling({'tile_size': 64})
    with pytest.raises(KeyError, match='official_uhd'):
        make_tiling({'preset': 'nope'})
    with pytest.raises(ValueError, match='tiling.blend'):
        make_tiling({'tile': 64, 'blend': 'hann'})
    with pytest.raises(ValueError, match='tiling.stride'):
        make_tiling({'tile': 64, 'stride': 80})
    assert make_tiling(None) is None
    cfg = make_tiling({'preset': 'official_uhd', 'batch_size': 4})
    assert cfg.batch_size == 4 and cfg.tile == (720, 1280)


def test_enhancement_task_predicts_tiled_and_whole_alike_for_a_pointwise_model():
    paddle.seed(0)
    model = paddle.nn.Conv2D(3, 3, 1)
    model.image_io = ImageIO()
    batch = {'lq': paddle.rand([1, 3, 40, 70])}
    whole = EnhancementTask(model, losses=[]).predict(batch)['pred'].numpy()
    task = EnhancementTask(model, losses=[], tiling={'tile': [16, 32], 'overlap': [8, 8], 'blend': 'cosine'})
    tiled = task.predict(batch)['pred'].numpy()
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    direct = tiled_predict(paddle_tile_fn(model), batch['lq'].numpy(), task.tiling)
    np.testing.assert_allclose(direct, tiled, atol=0)


def test_tiling_does_not_prepad_for_models_that_pad_themselves():
    """A model that pads itself (EDT, LLFormer) gets its tiles unpadded: pre-padding would move the image border
    the model pads by its own rule; the official LLFormer preset still pads to 16 as test_UHD.py does."""
    own = ImageIO(size_multiple=24, pads_itself=True, pad_mode='symmetric')
    assert make_tiling({'tile': 64}, own).size_multiple == 1
    assert make_tiling({'tile': 64}, ImageIO(size_multiple=8)).size_multiple == 8
    assert make_tiling('official_uhd', ImageIO(size_multiple=16, pads_itself=True)).size_multiple == 16
