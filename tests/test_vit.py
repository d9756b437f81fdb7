"""ViT / DeiT over the registry: shapes, gradients, parameter counts, distillation outputs,
drop path, position-embedding resampling (checkpoints and inputs of another size)."""
import numpy as np
import paddle
import pytest

import ppuhd
from ppuhd.engine import load_model_weights
from ppuhd.models.deit import DistilledVisionTransformer
from ppuhd.models.layers import antialias_bicubic_matrix, resample_pos_embed

ARCHS = [name for name in ppuhd.list_models() if name.startswith(('vit_', 'deit_'))]
DISTILLED = [name for name in ARCHS if 'distilled' in name]
# timm 1.0.31 ``sum(p.numel())`` of each model (FACTS lists the @224 ones; the rest read from timm's code
# and counted there). The 384 variants differ from 224 only by the larger pos_embed.
OFFICIAL_PARAMS = {
    'vit_tiny_patch16_224': 5_717_416, 'vit_small_patch16_224': 22_050_664, 'vit_base_patch16_224': 86_567_656,
    'vit_large_patch16_224': 304_326_632, 'vit_tiny_patch16_384': 5_790_376, 'vit_small_patch16_384': 22_196_584,
    'vit_base_patch16_384': 86_859_496, 'vit_large_patch16_384': 304_715_752, 'vit_base_patch32_384': 88_297_192,
    'deit_tiny_patch16_224': 5_717_416, 'deit_small_patch16_224': 22_050_664, 'deit_base_patch16_224': 86_567_656,
    'deit_base_patch16_384': 86_859_496, 'deit_tiny_distilled_patch16_224': 5_910_800,
    'deit_small_distilled_patch16_224': 22_436_432, 'deit_base_distilled_patch16_224': 87_338_192,
    'deit_base_distilled_patch16_384': 87_630_032,
}


def _tiny(arch, **kwargs):
    """The registered variant (its width and heads) with 2 blocks on a 2x2 patch grid."""
    patch = 32 if 'patch32' in arch else 16
    return ppuhd.create_model(arch, **{'img_size': 2 * patch, 'num_classes': 5, 'depth': 2, **kwargs})


def _num_params(model):
    return sum(int(p.size) for p in model.parameters())


def test_every_variant_is_registered():
    assert sorted(ARCHS) == sorted(OFFICIAL_PARAMS)


@pytest.mark.parametrize('arch', ARCHS)
def test_parameter_count_matches_official(arch):
    with paddle.LazyGuard():  # shapes only, nothing allocated
        model = ppuhd.create_model(arch)
    assert _num_params(model) == OFFICIAL_PARAMS[arch]


@pytest.mark.parametrize('arch', DISTILLED)
def test_distilled_outputs(arch):
    model = _tiny(arch)  # no dropout / drop path: train and eval compute the same thing
    x = paddle.randn([3, 3, *model.patch_embed.img_size])
    model.eval()
    averaged = model(x)
    model.train()
    assert paddle.allclose(model(x), averaged, atol=1e-6)  # switch off: average in training too
    model.set_distilled_training(True)
    cls_logits, dist_logits = model(x)
    assert cls_logits.shape == dist_logits.shape == [3, 5]
    assert not paddle.allclose(cls_logits, dist_logits)
    assert paddle.allclose((cls_logits + dist_logits) / 2, averaged, atol=1e-6)
    model.eval()
    assert paddle.allclose(model(x), averaged, atol=1e-6)  # switch on, eval: average (deit models.py)
    assert model.forward_head(model.forward_features(x), pre_logits=True).shape == [3, model.embed_dim]


def test_drop_path_only_in_training():
    paddle.seed(1)
    model = _tiny('deit_tiny_patch16_224', drop_path_rate=0.5)
    x = paddle.randn([4, 3, 32, 32])
    model.eval()
    assert paddle.equal_all(model(x), model(x))
    model.train()
    assert not paddle.allclose(model(x), model(x))
    rates = [block.drop_path.drop_prob for block in model.blocks[1:]]
    assert isinstance(model.blocks[0].drop_path, paddle.nn.Identity) and rates == [0.5]  # linspace(0, .5, 2)


@pytest.mark.parametrize('arch,expected', [('vit_tiny_patch16_224', {'pos_embed', 'cls_token'}),
                                           ('deit_tiny_distilled_patch16_224', {'pos_embed', 'cls_token',
                                                                                'dist_token'})])
def test_no_weight_decay_names_are_parameters(arch, expected):
    model = _tiny(arch)
    assert model.no_weight_decay() == expected
    assert expected <= {name for name, _ in model.named_parameters()}


@pytest.mark.parametrize('arch', ['vit_tiny_patch16_224', 'deit_tiny_distilled_patch16_224'])
def test_reset_classifier(arch):
    model = _tiny(arch)
    model.reset_classifier(3)
    x = paddle.randn([2, 3, 32, 32])
    assert model.num_classes == model.pretrained_cfg['num_classes'] == 3
    assert model(x).shape == [2, 3]
    model.reset_classifier(0)
    assert model(x).shape == [2, model.embed_dim]


def test_pretrained_cfg_gives_preprocessing():
    deit = _tiny('deit_small_patch16_224', img_size=48)
    assert deit.pretrained_cfg['input_size'] == (3, 48, 48)
    assert deit.pretrained_cfg['mean'] == (0.485, 0.456, 0.406) and deit.pretrained_cfg['crop_pct'] == 0.875
    vit = _tiny('vit_base_patch32_384')
    assert vit.pretrained_cfg['mean'] == (0.5, 0.5, 0.5) and vit.pretrained_cfg['interpolation'] == 'bicubic'
    assert vit.pretrained_cfg['crop_pct'] == 1.0


@pytest.mark.parametrize('antialias', [False, True])
def test_checkpoint_of_another_size_loads_resampled(tmp_path, antialias):
    """A '224' checkpoint (grid 2x2) loads into a '384' model (grid 3x3) through load_model_weights."""
    small = _tiny('deit_tiny_distilled_patch16_224')
    path = str(tmp_path / 'small.pdparams')
    paddle.save(small.state_dict(), path)
    big = _tiny('deit_tiny_distilled_patch16_224', img_size=48, pos_embed_antialias=antialias)
    load_model_weights(big, path)
    expected = resample_pos_embed(small.pos_embed, (3, 3), 2, antialias)
    assert paddle.allclose(big.pos_embed, expected) and paddle.equal_all(big.dist_token, small.dist_token)
    assert paddle.equal_all(big.pos_embed[:, :2], small.pos_embed[:, :2])
    big.eval()
    assert bool(paddle.isfinite(big(paddle.randn([1, 3, 48, 48]))).all())


def test_checkpoint_loading_stays_strict(tmp_path):
    state = _tiny('vit_tiny_patch16_224').state_dict()
    state.pop('norm.bias')
    paddle.save(state, str(tmp_path / 'bad.pdparams'))
    with pytest.raises(ValueError, match=r'missing: norm\.bias'):
        load_model_weights(_tiny('vit_tiny_patch16_224', img_size=48), str(tmp_path / 'bad.pdparams'))
    paddle.save(_tiny('vit_tiny_patch16_224').state_dict(), str(tmp_path / 'vit.pdparams'))
    with pytest.raises(ValueError, match=r'missing: dist_token'):  # not mistaken for another grid size
        load_model_weights(_tiny('deit_tiny_distilled_patch16_224'), str(tmp_path / 'vit.pdparams'))


def test_other_input_size_resamples_at_run_time():
    """Feeding 48x64 to a 32x32 model equals building it at 48x64 with the resampled pos_embed."""
    model = _tiny('deit_tiny_distilled_patch16_224')
    other = _tiny('deit_tiny_distilled_patch16_224', img_size=(48, 64))
    other.set_state_dict({**model.state_dict(), 'pos_embed': resample_pos_embed(model.pos_embed, (3, 4), 2)})
    model.eval()
    other.eval()
    x = paddle.randn([2, 3, 48, 64])
    assert paddle.allclose(model(x), other(x), atol=1e-5)


def test_input_not_a_multiple_of_the_patch_is_refused():
    with pytest.raises(ValueError, match='not a multiple of the patch size 16x16'):
        _tiny('vit_tiny_patch16_224')(paddle.randn([1, 3, 40, 32]))


def test_resample_pos_embed_properties():
    pos = paddle.randn([1, 1 + 16, 8])
    assert resample_pos_embed(pos, (4, 4), 1) is pos
    constant = paddle.concat([pos[:, :1], paddle.ones([1, 16, 8])], axis=1)
    for antialias in (False, True):
        out = resample_pos_embed(constant, (6, 3), 1, antialias)
        assert out.shape == [1, 1 + 18, 8] and paddle.equal_all(out[:, :1], pos[:, :1])
        assert paddle.allclose(out[:, 1:], paddle.ones([1, 18, 8]), atol=1e-5)  # weights sum to one
    with pytest.raises(ValueError, match='old_grid'):
        resample_pos_embed(paddle.randn([1, 1 + 12, 8]), (4, 4), 1)


def test_antialias_kernel_is_keys_half():
    """Anti-aliased bicubic uses Keys a=-0.5 (not -0.75) and widens its support when downsampling."""
    up = antialias_bicubic_matrix(4, 8)
    assert np.allclose(up.sum(1), 1) and np.count_nonzero(up[3]) == 4
    down = antialias_bicubic_matrix(64, 8)  # scale 8: support 2 * 8 each side of the centre
    assert np.allclose(down.sum(1), 1) and np.count_nonzero(down[3]) == 32
    # upsampling x2, output 3 sits at input 1.25: taps at distances 1.25, .25, .75, 1.75 with a = -0.5
    x = np.array([1.25, 0.25, 0.75, 1.75])
    a = -0.5
    keys = np.where(x < 1, ((a + 2) * x - (a + 3)) * x * x + 1, ((a * x - 5 * a) * x + 8 * a) * x - 4 * a)
    assert np.allclose(up[3], keys / keys.sum(), atol=1e-6)


def test_distilled_model_class():
    assert isinstance(_tiny('deit_base_distilled_patch16_384'), DistilledVisionTransformer)
    assert not isinstance(_tiny('deit_base_patch16_384'), DistilledVisionTransformer)


def test_export_with_dynamic_input_size(tmp_path):
    """paddle.jit export with unknown batch, H, W: the position embedding is resampled in the graph."""
    model = _tiny('deit_tiny_distilled_patch16_224')
    model.eval()
    spec = [paddle.static.InputSpec([None, 3, None, None], 'float32', 'x')]
    paddle.jit.save(paddle.jit.to_static(model, input_spec=spec, full_graph=True), str(tmp_path / 'model'))
    loaded = paddle.jit.load(str(tmp_path / 'model'))
    for shape in ([2, 3, 32, 32], [1, 3, 48, 64]):
        x = paddle.randn(shape)
        assert paddle.allclose(loaded(x), model(x), atol=1e-5)
