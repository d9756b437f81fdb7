"""RegNetY (DeiT's teacher): widths, parameter counts, forward/backward, BN behaviour."""
import paddle
import pytest

import ppuhd
from ppuhd.models.regnet import REGNETY_CFGS, stage_widths

ARCHS = sorted(REGNETY_CFGS)
# timm ``sum(p.numel() for p in model.parameters())`` (running stats are buffers there).
OFFICIAL_PARAMS = {'regnety_002': 3_162_996, 'regnety_004': 4_344_144, 'regnety_160': 83_590_140}


def _trainable(model):
    return sum(int(p.size) for p in model.parameters() if not p.stop_gradient)


@pytest.mark.parametrize('arch', ARCHS)
def test_parameter_count_matches_timm(arch):
    with paddle.LazyGuard():
        model = ppuhd.create_model(arch)
    assert _trainable(model) == OFFICIAL_PARAMS[arch]


def test_regnety_160_stages():
    # RegNetY-16GF in the paper / pycls: widths 224, 448, 1232, 3024, depths 2, 4, 11, 1, group width 112
    assert stage_widths(*REGNETY_CFGS['regnety_160']) == [(224, 2, 112), (448, 4, 112), (1232, 11, 112),
                                                          (3024, 1, 112)]


def test_forward_features_keep_the_spatial_grid():
    model = ppuhd.create_model('regnety_002', num_classes=7)
    assert model.forward_features(paddle.randn([1, 3, 64, 64])).shape == [1, model.num_features, 2, 2]


def test_eval_uses_running_stats_and_train_updates_them():
    model = ppuhd.create_model('regnety_002', num_classes=3)
    x = paddle.randn([4, 3, 32, 32]) * 3 + 1
    model.eval()
    before = model(x)
    assert paddle.equal_all(model(x[:2]), before[:2])  # per-sample in eval: BN uses running stats
    mean = model.stem.bn._mean.clone()
    model.train()
    model(x)
    assert not paddle.allclose(model.stem.bn._mean, mean)


def test_zero_init_last_starts_blocks_as_identity_branch():
    model = ppuhd.create_model('regnety_002')
    assert all(float(block.conv3.bn.weight.abs().sum()) == 0 for stage in (model.s1, model.s2)
               for block in stage.children())


def test_reset_classifier_cfg_and_no_weight_decay():
    model = ppuhd.create_model('regnety_002', img_size=96)
    assert model.pretrained_cfg['input_size'] == (3, 96, 96) and model.pretrained_cfg['classifier'] == 'head.fc'
    assert model.no_weight_decay() == set()
    model.reset_classifier(4)
    model.eval()
    assert model(paddle.randn([1, 3, 64, 64])).shape == [1, 4] and model.num_classes == 4
    assert model.forward_head(model.forward_features(paddle.randn([1, 3, 64, 64])), pre_logits=True).shape == \
        [1, model.num_features]
