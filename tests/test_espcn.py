"""ESPCN: parameter counts, Y-channel shapes and contract, raw (unclamped) output, yjn870's init and
last-layer learning rate, and the converter's strictness."""
import numpy as np
import paddle
import pytest

import ppuhd
from ppuhd.models.convert import convert_state_dict

PARAMS = {2: 21_284, 3: 22_729, 4: 24_752}  # 64*25+64 + 64*32*9+32 + 32*r^2*9+r^2


@pytest.mark.parametrize('scale', [2, 3, 4])
def test_parameter_count_shape_and_image_io(scale):
    paddle.seed(scale)
    model = ppuhd.create_model(f'espcn_x{scale}').eval()
    assert sum(int(p.numel()) for p in model.parameters()) == PARAMS[scale]
    io = model.image_io
    assert (io.scale, io.channels, io.in_channels, io.size_multiple, io.pads_itself) == (scale, 'y', 1, 1, False)
    with paddle.no_grad():
        y = model(paddle.rand([2, 1, 17, 23]))
    assert y.shape == [2, 1, 17 * scale, 23 * scale]


def test_sub_pixel_layout_and_raw_output():
    """Output pixel (r*i + a, r*j + b) is channel a*r + b of the last conv at (i, j) (PixelShuffle), not clamped."""
    model = ppuhd.create_model('espcn_x3').eval()
    last = model.last_part[0]
    last.weight.set_value(paddle.zeros(last.weight.shape))
    last.bias.set_value(paddle.arange(9, dtype='float32') - 2.0)  # values outside [0, 1]
    with paddle.no_grad():
        y = model(paddle.rand([1, 1, 4, 5])).numpy()[0, 0]
    expected = np.tile((np.arange(9, dtype='float32') - 2.0).reshape(3, 3), (4, 5))
    np.testing.assert_array_equal(y, expected)


def test_init_is_yjn870s():
    """N(0, sqrt(2 / (out * k * k))) for the first two convs, N(0, 0.001) for the last, zero biases."""
    paddle.seed(0)
    model = ppuhd.create_model('espcn_x4')
    convs = [model.first_part[0], model.first_part[2], model.last_part[0]]
    for conv, std in zip(convs, [np.sqrt(2 / (64 * 25)), np.sqrt(2 / (32 * 9)), 0.001]):
        w = conv.weight.numpy()
        assert abs(w.std() / std - 1) < 0.08 and abs(w.mean()) < 0.2 * std
        assert not conv.bias.numpy().any()


def test_last_layer_learns_ten_times_slower():
    """yjn870 train.py: Adam with lr for first_part and lr * 0.1 for last_part (Paddle ParamAttr.learning_rate).
    Adam's first step moves every weight by about lr in magnitude, so the steps show the multiplier."""
    paddle.seed(1)
    model = ppuhd.create_model('espcn_x2')
    before = {n: p.numpy().copy() for n, p in model.named_parameters()}
    opt = paddle.optimizer.Adam(1e-3, parameters=model.parameters())
    (model(paddle.rand([4, 1, 12, 12])) - paddle.rand([4, 1, 24, 24])).square().mean().backward()
    opt.step()
    step = {n: np.median(np.abs(p.numpy() - before[n])) for n, p in model.named_parameters()}
    assert all(abs(step[n] / 1e-3 - 1) < 0.05 for n in step if n.startswith('first_part'))
    assert all(abs(step[n] / 1e-4 - 1) < 0.05 for n in step if n.startswith('last_part'))


def test_converter_passes_names_and_is_strict():
    paddle.seed(2)
    model = ppuhd.create_model('espcn_x3')
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    assert set(state) == {'first_part.0.weight', 'first_part.0.bias', 'first_part.2.weight', 'first_part.2.bias',
                          'last_part.0.weight', 'last_part.0.bias'}  # yjn870 models.py names
    converted, report = convert_state_dict('espcn_x3', {f'module.{k}': v for k, v in state.items()})
    assert report.kept_params == PARAMS[3]
    np.testing.assert_array_equal(converted['last_part.0.weight'], state['last_part.0.weight'])
    with pytest.raises(ValueError, match='last_part.0.weight'):  # an x3 file is not an x2 model
        convert_state_dict('espcn_x2', state)
    broken = dict(state, extra=np.zeros(1, 'float32'))
    del broken['first_part.2.bias']
    with pytest.raises(ValueError) as err:
        convert_state_dict('espcn_x3', broken)
    assert 'first_part.2.bias' in str(err.value) and 'extra' in str(err.value)


def test_paper_recipe_config():
    import os
    from conftest import ROOT
    from ppuhd.config import get_config
    from ppuhd.registry import LOSSES, MODELS, TASKS
    cfg = get_config(os.path.join(ROOT, 'configs', 'espcn', 'espcn_x3_t91.yml'))
    assert cfg['model']['type'] in MODELS and cfg['task']['type'] in TASKS
    assert [t['type'] for t in cfg['task']['losses']] == ['MSELoss'] and 'MSELoss' in LOSSES
    opt, data = cfg['optimizer'], cfg['data']
    assert (opt['type'], opt['lr'], data['batch_size'], data['train']['crop_size']) == ('Adam', 1e-3, 16, 17)
    assert data['train']['type'] == 'SRSyntheticDataset' and not data['train']['hflip']
    assert cfg['train']['epochs'] == 200 and cfg['lr_scheduler']['milestones_epochs'] == [160]
    assert cfg['eval']['protocol'] == 'sr_y'
