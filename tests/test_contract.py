"""The image-to-image contract (ImageIO) and the one padding rule in numpy, dygraph and an exported graph."""
import numpy as np
import paddle
import pytest

from ppuhd.inference import ImageIO, image_io_of, pad_image, pad_to_multiple, source_index
from ppuhd.inference.padding import pad_bottom_right

RNG = np.random.default_rng(0)


class _GraphPad(paddle.nn.Layer):
    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def forward(self, x):
        return pad_to_multiple(x, 8, self.mode)[0]


@pytest.mark.parametrize('mode, np_mode', [('reflect', 'reflect'), ('symmetric', 'symmetric'),
                                           ('replicate', 'edge')])
@pytest.mark.parametrize('size, pad', [(5, 3), (7, 6), (4, 1)])
def test_source_index_is_numpy_pad(mode, np_mode, size, pad):
    if mode == 'reflect' and pad >= size:
        pytest.skip('reflect needs pad < size (the rule falls back to replicate there)')
    row = np.arange(size)
    np.testing.assert_array_equal(row[source_index(size, pad, mode)], np.pad(row, (0, pad), mode=np_mode))


def test_symmetric_is_repeated_flip_concatenation():
    row = np.arange(3)
    periodic = np.concatenate([row, row[::-1], row, row[::-1]])
    np.testing.assert_array_equal(row[source_index(3, 9, 'symmetric')], periodic)


@pytest.mark.parametrize('shape', [(37, 53), (4, 20), (16, 16)])
@pytest.mark.parametrize('mode', ['reflect', 'symmetric', 'replicate'])
def test_numpy_dygraph_and_graph_pad_alike(shape, mode):
    x = RNG.random((1, 2, *shape)).astype('float32')
    ref = pad_image(x, 8, mode)
    assert ref.shape[-2] % 8 == 0 and ref.shape[-1] % 8 == 0
    np.testing.assert_array_equal(ref[..., :shape[0], :shape[1]], x)
    dy, size = pad_to_multiple(paddle.to_tensor(x), 8, mode)
    assert size == shape
    np.testing.assert_array_equal(dy.numpy(), ref)
    spec = [paddle.static.InputSpec([None, 2, None, None], 'float32')]
    static = paddle.jit.to_static(_GraphPad(mode), input_spec=spec, full_graph=True)
    np.testing.assert_array_equal(static(paddle.to_tensor(x)).numpy(), ref)


def test_pad_by_other_amounts():
    """EDT-style amounts (a whole extra window): dygraph pads exactly what numpy's rule gives."""
    x = RNG.random((1, 1, 24, 30)).astype('float32')
    out = pad_bottom_right(paddle.to_tensor(x), 24, 18, 'symmetric').numpy()
    np.testing.assert_array_equal(out, np.pad(x, ((0, 0), (0, 0), (0, 24), (0, 18)), mode='symmetric'))


def test_tiny_reflect_falls_back_to_replicate():
    x = RNG.random((1, 1, 4, 11)).astype('float32')  # pad 4 >= 4 rows: replicate on both axes
    np.testing.assert_array_equal(pad_image(x, 8), np.pad(x, ((0, 0), (0, 0), (0, 4), (0, 5)), mode='edge'))


def test_image_io_round_trip_and_checks():
    io = ImageIO(scale=3, size_multiple=24, min_size=8, pads_itself=True, pad_mode='symmetric', channels='y')
    assert ImageIO.from_dict(io.to_dict()) == io and io.in_channels == 1 and io.output_size(5, 7) == (15, 21)
    with pytest.raises(ValueError, match='at least 8x8'):
        io.check_size(7, 100, 'photo.png')
    with pytest.raises(KeyError, match='scales'):
        ImageIO.from_dict({'scales': 2})
    with pytest.raises(ValueError, match='pad_mode'):
        ImageIO(pad_mode='wrap')
    with pytest.raises(ValueError, match='scale'):
        ImageIO(scale=0)
    with pytest.raises(TypeError, match='Conv2D declares no image_io'):
        image_io_of(paddle.nn.Conv2D(3, 3, 1))
