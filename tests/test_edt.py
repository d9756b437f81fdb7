"""EDT: released parameter counts, shapes of every registered name, the test_sample.py padding rule,
attention masks against the official slicing algorithm, converter strictness, training-mode rules,
fine-tuning from a multi-task file, the exported graph with dynamic H and W, tiled SR, and the recipes."""
import glob
import os

import numpy as np
import paddle
import pytest

import ppuhd
from conftest import ROOT
from ppuhd.config import get_config
from ppuhd.inference import image_io_of
from ppuhd.models.convert import convert_state_dict
from ppuhd.models.convert.edt import _single_level, convert_edt_keys
from ppuhd.models.edt import EDT, parse_task, shift_window_mask
from ppuhd.models.layers import upsample_bilinear

# the official Network built from each config (utils/modules/edt.py @f4b3b77, counted with torch)
RELEASED = {
    'edt_t_sr_x2': 916_924, 'edt_t_sr_x3': 919_099, 'edt_t_sr_x4': 922_144, 'edt_s_sr_x2': 4_230_323,
    'edt_b_sr_x2': 11_479_355, 'edt_b_sr_x3': 11_663_995, 'edt_b_sr_x4': 11_627_067, 'edt_l_sr_x2': 39_927_395,
    'edt_b_dn': 11_503_163, 'edt_b_dr': 11_503_163, 'edt_t_sr_x2x3x4': 1_137_537, 'edt_b_sr_x2x3x4': 14_576_937,
    'edt_b_sr_x2x3_dn_g15': 14_453_033, 'edt_b_dn_g15g25g50': 14_316_009, 'edt_b_dr_lshs': 12_909_586,
}
TINY = dict(num_feat=4, embed_dim=12, depths=(2,), num_heads=(2,))


def official_mask(h, w, window):
    """numpy transcription of the official ``calculate_mask`` (img_mask slices, window_partition, != 0 -> -100)."""
    (wh, ww), (sh, sw) = window, (window[0] // 2, window[1] // 2)
    img = np.zeros((h, w))
    cnt = 0
    for hs in (slice(0, -wh), slice(-wh, -sh), slice(-sh, None)):
        for ws in (slice(0, -ww), slice(-ww, -sw), slice(-sw, None)):
            img[hs, ws] = cnt
            cnt += 1
    windows = img.reshape(h // wh, wh, w // ww, ww).transpose(0, 2, 1, 3).reshape(-1, wh * ww)
    diff = windows[:, None, :] - windows[:, :, None]
    return np.where(diff != 0, -100.0, 0.0).astype('float32')


def test_released_parameter_counts():
    counts = {name: sum(int(p.numel()) for p in ppuhd.create_model(name).parameters()) for name in RELEASED}
    assert counts == RELEASED


@pytest.mark.parametrize('name', sorted(RELEASED))
def test_every_registered_name_shapes_and_image_io(name):
    """The released tasks, upsampler and head/tail layout of each name, on a narrow body, at odd sizes."""
    paddle.seed(0)
    model = ppuhd.create_model(name, **TINY).eval()
    inputs = [paddle.rand([1, 3, 13 + i, 17 + 2 * i]) for i in range(len(model.tasks))]
    with paddle.no_grad():
        outs = model(inputs) if len(inputs) > 1 else [model(inputs[0])]
    for task, x, y in zip(model.tasks, inputs, outs):
        kind, scale = parse_task(task)
        io = model.task_image_io[task]
        assert io.scale == scale and io.pads_itself and io.pad_mode == 'symmetric'
        assert io.size_multiple == (24 if kind == 'sr' else 96)
        assert y.shape == [1, 3, x.shape[2] * scale, x.shape[3] * scale] and bool(paddle.isfinite(y).all())
    if len(model.tasks) == 1:
        assert image_io_of(model) is model.task_image_io[model.tasks[0]]
    else:
        with pytest.raises(TypeError, match='image_io'):
            image_io_of(model)


def test_released_tasks_and_upsamplers():
    assert ppuhd.create_model('edt_b_sr_x2x3_dn_g15', **TINY).tasks == ['sr_x2', 'sr_x3', 'dn_g15']
    assert ppuhd.create_model('edt_b_dr_lshs', **TINY).tasks == ['dr_L', 'dr_H']
    t = ppuhd.create_model('edt_t_sr_x2')
    assert t.tail_sr_x2[2][0].weight.shape == [12, 16, 3, 3]  # pixelshuffledirect: conv -> 3 * 2^2
    pretrain_t = ppuhd.create_model('edt_t_sr_x2x3x4')  # the official pre-training config: pixelshuffle
    assert pretrain_t.tail_sr_x2[2][0].weight.shape == [64, 16, 3, 3]


def test_real_size_forward_edt_t_and_b():
    for name, scale in (('edt_t_sr_x3', 3), ('edt_b_dn', 1)):
        paddle.seed(1)
        model = ppuhd.create_model(name).eval()
        with paddle.no_grad():
            y = model(paddle.rand([1, 3, 21, 26]))
        assert y.shape == [1, 3, 21 * scale, 26 * scale] and bool(paddle.isfinite(y).all())


@pytest.mark.parametrize('size,window', [((48, 48), (6, 24)), ((48, 48), (24, 6)), ((72, 48), (6, 24)),
                                         ((24, 96), (24, 6))])
def test_shift_mask_equals_official_algorithm(size, window):
    np.testing.assert_array_equal(shift_window_mask(size[0], size[1], window).numpy(), official_mask(*size, window))


def _test_sample_pad(x: np.ndarray, multiple: int) -> np.ndarray:
    """test_sample.py: cat([x, flip(x)]) along H then W, cut to (h // m + 1) * m."""
    h, w = x.shape[-2:]
    hp, wp = (h // multiple + 1) * multiple, (w // multiple + 1) * multiple
    x = np.concatenate([x, x[:, :, ::-1]], 2)[:, :, :hp]
    return np.concatenate([x, x[:, :, :, ::-1]], 3)[:, :, :, :wp]


@pytest.mark.parametrize('task,shape', [('sr_x2', (1, 3, 13, 21)), ('sr_x3', (2, 3, 24, 30)), ('dn', (1, 3, 50, 61)),
                                        ('dr', (1, 3, 96, 70))])
def test_eval_forward_is_the_test_sample_pipeline(task, shape):
    """Pad by flip-concatenation to (h // m + 1) * m (a whole window more when divisible), network, crop."""
    paddle.seed(2)
    model = EDT(tasks=(task,), **TINY).eval()
    x = np.random.default_rng(0).uniform(0, 1, shape).astype('float32')
    multiple, scale = model.image_io.size_multiple, model.image_io.scale
    padded = _test_sample_pad(x, multiple)
    assert padded.shape[2] % multiple == 0 and padded.shape[2] > shape[2]
    with paddle.no_grad():
        ours = model(paddle.to_tensor(x)).numpy()
        ref = model._network(task, paddle.to_tensor(padded), upsample_bilinear).numpy()[:, :, :shape[2] * scale, :shape[3] * scale]
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_sides_below_the_official_limit_continue_the_flip():
    """test_sample.py's single flip needs pad <= side; the periodic flip (numpy 'symmetric') goes on."""
    paddle.seed(3)
    model = EDT(tasks=('sr_x2',), **TINY).eval()
    x = np.random.default_rng(1).uniform(0, 1, (1, 3, 5, 9)).astype('float32')
    padded = np.pad(x, ((0, 0), (0, 0), (0, 19), (0, 15)), mode='symmetric')
    with paddle.no_grad():
        ours = model(paddle.to_tensor(x)).numpy()
        ref = model._network('sr_x2', paddle.to_tensor(padded), upsample_bilinear).numpy()[:, :, :10, :18]
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_training_mode_uses_crops_as_given_and_rejects_other_sizes():
    paddle.seed(4)
    model = EDT(tasks=('sr_x2',), drop_path_rate=0.0, **TINY)  # (the official 0.1 makes training random)
    x = paddle.rand([2, 3, 48, 24])
    model.train()
    y = model(x)
    model.eval()
    with paddle.no_grad():
        assert y.shape == [2, 3, 96, 48]
        np.testing.assert_allclose(y.numpy(), model._network('sr_x2', x, upsample_bilinear).numpy(), atol=1e-6)
    model.train()
    with pytest.raises(ValueError, match='multiples of 24'):
        model(paddle.rand([1, 3, 40, 48]))
    dn = EDT(tasks=('dn',), **TINY)
    with pytest.raises(ValueError, match='multiples of 96'):
        dn(paddle.rand([1, 3, 48, 48]))


def test_multi_task_training_batches_the_body_and_reaches_every_parameter():
    paddle.seed(5)
    model = EDT(tasks=('sr_x2', 'sr_x3', 'dn_g15'), drop_path_rate=0.0, **TINY)
    xs = [paddle.rand([2, 3, 24, 24]), paddle.rand([2, 3, 24, 24]), paddle.rand([2, 3, 96, 96])]
    model.train()
    outs = model(xs)
    assert [o.shape for o in outs] == [[2, 3, 48, 48], [2, 3, 72, 72], [2, 3, 96, 96]]
    model.eval()
    with paddle.no_grad():  # one batched body == one body per task
        for task, x, o in zip(model.tasks, xs, outs):
            np.testing.assert_allclose(o.numpy(), model._network(task, x, upsample_bilinear).numpy(), atol=1e-5)
    model.train()
    paddle.add_n([o.mean() for o in model(xs)]).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or float(p.grad.abs().sum()) == 0]
    assert not missing
    with pytest.raises(ValueError, match='takes 3 inputs'):
        model(xs[:2])
    with pytest.raises(ValueError, match='list of 3 inputs'):
        model(xs[0])


def test_task_names_and_arguments_are_checked():
    assert parse_task('sr_x4') == ('sr', 4) and parse_task('dn_g50') == ('dn', 1) and parse_task('dr') == ('dr', 1)
    for bad in ('sr', 'sr_4', 'dn_15', 'denoise'):
        with pytest.raises(ValueError, match='EDT task'):
            parse_task(bad)
    with pytest.raises(ValueError, match='upsampler'):
        EDT(upsampler='nearest', **TINY)
    with pytest.raises(ValueError, match='single-task'):
        EDT(tasks=('sr_x2', 'sr_x3'), init_branch='sr_x2', **TINY)


def test_init_is_the_official_one():
    paddle.seed(6)
    model = ppuhd.create_model('edt_b_sr_x2')
    qkv = model.body.layers[0].residual_group.blocks[0].qkv
    w = qkv.weight.numpy()
    assert abs(w.std() - 0.02) < 0.002 and np.abs(w).max() <= 2.0 and not qkv.bias.numpy().any()
    blocks = [b for layer in model.body.layers for b in layer.residual_group.blocks]  # SwinBody default 0.1
    np.testing.assert_allclose([getattr(b.drop_path, 'drop_prob', 0.0) for b in blocks], np.linspace(0, 0.1, 36),
                               atol=1e-7)
    conv = model.head_sr_x2[0]  # PyTorch default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in 27
    assert np.abs(conv.weight.numpy()).max() <= 1 / np.sqrt(27) and np.abs(conv.bias.numpy()).max() > 0.05


def _official_state(model: EDT, level_rename=None):
    """``model``'s weights in the official format: Linear weights [out, in], masks of the shifted blocks for 48x48,
    optionally a single-level branch name (``{'dn': 'dn_g25'}``)."""
    state = {}
    for key, value in model.state_dict().items():
        value = value.numpy()
        if key.endswith(('qkv.weight', 'proj.weight', 'fc1.weight', 'fc2.weight')):
            value = value.T
        for ours, theirs in (level_rename or {}).items():
            key = key.replace(f'head_{ours}.', f'head_{theirs}.').replace(f'tail_{ours}.', f'tail_{theirs}.')
        state[key] = value
        if key.endswith('.norm1.weight') and int(key.split('.')[5]) % 2:
            block = key[:-len('.norm1.weight')]
            state[f'{block}.attn_mask_h'] = official_mask(48, 48, (6, 24))
            state[f'{block}.attn_mask_v'] = official_mask(48, 48, (24, 6))
    return state


@pytest.fixture(scope='module')
def tiny_t():
    paddle.seed(7)
    return ppuhd.create_model('edt_t_sr_x2')


def test_converter_transposes_linears_and_checks_then_drops_masks(tiny_t):
    state = _official_state(tiny_t)
    converted, report = convert_state_dict('edt_t_sr_x2', state)
    assert report.kept_params == RELEASED['edt_t_sr_x2'] and report.dropped_tensors == 24
    key = 'body.layers.0.residual_group.blocks.0.proj.weight'
    np.testing.assert_array_equal(converted[key], state[key].T)
    for name, value in tiny_t.state_dict().items():
        np.testing.assert_array_equal(converted[name], value.numpy())


def test_converter_is_strict(tiny_t):
    state = _official_state(tiny_t)
    broken = dict(state)
    del broken['head_sr_x2.0.weight']
    broken['head_sr_x2.9.weight'] = np.zeros(3, 'float32')
    broken['tail_sr_x2.2.0.weight'] = np.zeros((12, 16, 3, 5), 'float32')
    with pytest.raises(ValueError) as err:
        convert_state_dict('edt_t_sr_x2', broken)
    assert all(k in str(err.value) for k in ('head_sr_x2.0.weight', 'head_sr_x2.9.weight', 'tail_sr_x2.2.0.weight'))
    with pytest.raises(ValueError):  # an x2 file is not an x3 model
        convert_state_dict('edt_t_sr_x3', state)


def test_converter_rejects_wrong_missing_or_misplaced_masks(tiny_t):
    state = _official_state(tiny_t)
    block = 'body.layers.{}.residual_group.blocks.{}.attn_mask_{}'
    mask, unshifted = block.format(1, 3, 'h'), block.format(0, 2, 'v')
    cases = {'not the 6x24-window mask': {mask: official_mask(48, 48, (24, 6))},
             'missing attention masks': {mask: None},
             'where no shifted block is': {unshifted: official_mask(48, 48, (24, 6))}}
    for message, change in cases.items():
        broken = dict(state)
        for k, v in change.items():
            broken.pop(k) if v is None else broken.__setitem__(k, v)
        with pytest.raises(ValueError, match=message):
            convert_state_dict('edt_t_sr_x2', broken)
    smaller = dict(state, **{mask: official_mask(24, 48, (6, 24))})  # masks of another training size
    with pytest.raises(ValueError, match='48x48'):
        convert_state_dict('edt_t_sr_x2', smaller)


def test_denoise_and_derain_converters_take_any_one_level():
    paddle.seed(8)
    dn = EDT(tasks=('dn',), **TINY)
    # the registered converters check against the released sizes; a narrow model goes through the key map itself
    for level in ('dn_g15', 'dn_g25', 'dn_g50'):
        state = _official_state(dn, {'dn': level})
        converted, dropped = convert_edt_keys(state, _single_level(state, 'dn', 'edt_b_dn'))
        assert set(converted) == set(dn.state_dict()) and len(dropped) == 2
    two_levels = dict(_official_state(dn, {'dn': 'dn_g15'}), **{
        k: v for k, v in _official_state(dn, {'dn': 'dn_g50'}).items() if 'dn_g50' in k})
    with pytest.raises(ValueError, match='edt_b_dn_g15g25g50'):
        _single_level(two_levels, 'dn', 'edt_b_dn')
    dr = EDT(tasks=('dr',), **TINY)
    state = _official_state(dr, {'dr': 'dr_H'})
    converted, _ = convert_edt_keys(state, _single_level(state, 'dr', 'edt_b_dr'))
    assert set(converted) == set(dr.state_dict())


def test_released_denoise_converter_end_to_end():
    paddle.seed(9)
    model = ppuhd.create_model('edt_b_dn')
    converted, report = convert_state_dict('edt_b_dn', _official_state(model, {'dn': 'dn_g25'}))
    branch = [k for k in model.state_dict() if k.startswith(('head_dn.', 'tail_dn.'))]
    assert report.kept_params == RELEASED['edt_b_dn'] and report.renamed == len(branch) == 36
    np.testing.assert_array_equal(converted['head_dn.0.weight'], model.head_dn[0].weight.numpy())


def test_init_branch_fine_tunes_from_a_multi_task_file(tmp_path):
    paddle.seed(10)
    pretrain = EDT(tasks=('dn_g15', 'dn_g25', 'dn_g50'), **TINY)
    path = str(tmp_path / 'pretrain.pdparams')
    paddle.save(pretrain.state_dict(), path)
    from ppuhd.utils.weights import load_weights
    with pytest.raises(ValueError, match='head_dn_g15'):
        load_weights(EDT(tasks=('dn',), **TINY), path)
    model = EDT(tasks=('dn',), init_branch='dn_g25', **TINY)
    load_weights(model, path)
    np.testing.assert_array_equal(model.tail_dn[0].up.weight.numpy(), pretrain.tail_dn_g25[0].up.weight.numpy())
    np.testing.assert_array_equal(model.body.norm.weight.numpy(), pretrain.body.norm.weight.numpy())


@pytest.fixture(scope='module')
def edt_t_export(tmp_path_factory):
    from ppuhd.engine import build_task
    from ppuhd.engine.export import export_model
    root = tmp_path_factory.mktemp('edt_t_export')
    paddle.seed(11)
    weights = str(root / 'edt_t.pdparams')
    paddle.save(ppuhd.create_model('edt_t_sr_x2').state_dict(), weights)
    cfg = {'model': {'type': 'edt_t_sr_x2'}, 'model_weights': weights,
           'task': {'type': 'EnhancementTask', 'losses': []}}
    export_model(cfg, weights, str(root / 'model'))
    task = build_task(cfg, inference=True)
    task.eval()
    return str(root / 'model'), task


def test_exported_graph_dynamic_hw_equals_dygraph(edt_t_export):
    """Padding, mask computation and crop inside the graph, for three sizes (one odd, one divisible by 24)."""
    from paddle import inference
    model_dir, task = edt_t_export
    config = inference.Config(os.path.join(model_dir, 'inference.json'), os.path.join(model_dir, 'inference.pdiparams'))
    config.disable_onednn()  # oneDNN needs deploy/python/predictor.py's pass list (conv + LeakyReLU fusion crashes)
    config.set_cpu_math_library_num_threads(1)
    predictor = inference.create_predictor(config)
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    for shape in [(1, 3, 24, 24), (1, 3, 17, 31), (2, 3, 12, 30)]:
        x = np.random.default_rng(shape[2]).random(shape, dtype=np.float32)
        handle.reshape(list(shape))
        handle.copy_from_cpu(x)
        predictor.run()
        out = predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
        with paddle.no_grad():
            ref = task.model(paddle.to_tensor(x)).numpy()
        assert out.shape == (shape[0], 3, shape[2] * 2, shape[3] * 2)
        np.testing.assert_allclose(out, ref, atol=1e-5)


def test_tiled_super_resolution_places_scale_times_tiles():
    """ppuhd.inference.tiling with an x3 model: output tiles are 3x the input tiles, at 3x their corners."""
    from ppuhd.inference import TilingConfig, paddle_tile_fn, tiled_predict
    paddle.seed(12)
    model = EDT(tasks=('sr_x3',), **TINY).eval()
    image = np.random.default_rng(2).uniform(0, 1, (3, 50, 70)).astype('float32')
    fn = paddle_tile_fn(model)
    whole = TilingConfig(tile=(64, 96), size_multiple=1)  # one tile: exactly the model on the image
    np.testing.assert_allclose(tiled_predict(fn, image, whole), fn(image[None])[0], atol=1e-6)
    cfg = TilingConfig(tile=(24, 36), overlap=(8, 12), blend='cosine', size_multiple=1)
    out = tiled_predict(fn, image, cfg)
    assert out.shape == (3, 150, 210) and np.isfinite(out).all()
    stride = cfg.stride  # rows / cols before the first overlap come from the first tile alone, weight 1
    first = fn(image[None, :, :24, :36])[0]
    np.testing.assert_allclose(out[:, :3 * stride[0], :3 * stride[1]], first[:, :3 * stride[0], :3 * stride[1]],
                               atol=1e-6)


# The SR / restoration datasets come with the data side of issue 14; until they are registered the configs are
# checked against these names and their documented arguments only.
SR_DATASETS = {'SRPairedDataset', 'SRSyntheticDataset', 'DenoiseDataset', 'DerainDataset'}
EDT_CONFIGS = sorted(p for p in glob.glob(os.path.join(ROOT, 'configs', 'edt', '*.yml')) if not p.endswith('_demo.yml'))


def _dataset_types(data_cfg):
    if data_cfg.get('type') == 'MultiTaskDataset':
        return [d['type'] for d in data_cfg['tasks'].values()]
    return [data_cfg['type']]


@pytest.mark.parametrize('path', EDT_CONFIGS, ids=os.path.basename)
def test_edt_configs_resolve(path):
    from ppuhd.engine.optim import build_lr_scheduler
    from ppuhd.registry import DATASETS, LOSSES, MODELS, TASKS
    cfg = get_config(path)
    model_cfg = dict(cfg['model'])
    assert model_cfg['type'] in MODELS and cfg['model']['type'].startswith('edt_')
    if model_cfg.get('init_branch'):
        parse_task(model_cfg['init_branch'])
        assert cfg['model_weights'].endswith('.pdparams')
    assert cfg['task']['type'] in TASKS
    if cfg['task']['type'] == 'MultiTaskRestorationTask':  # one dataset per task of the multi-task model
        for split in ('train', 'val'):
            assert set(cfg['data'][split]['tasks']) == set(ppuhd.create_model(model_cfg['type'], **TINY).tasks)
    assert all(term['type'] in LOSSES for term in cfg['task']['losses'])
    for split in ('train', 'val'):
        assert all(t in DATASETS or t in SR_DATASETS for t in _dataset_types(cfg['data'][split]))
    assert cfg['optimizer']['type'] == 'Adam' and (cfg['optimizer']['beta1'], cfg['optimizer']['beta2']) == (0.9, 0.99)
    schedule = build_lr_scheduler(cfg['lr_scheduler'], cfg['optimizer']['lr'], cfg['train']['total_iters'], 1)
    assert schedule.get_lr() == cfg['optimizer']['lr']
    protocols = cfg['eval']['protocol']
    protocols = protocols if isinstance(protocols, dict) else {None: protocols}  # multi-task: one per task
    assert set(protocols.values()) <= {'edt_sr', 'edt_denoise', 'edt_derain'}


def test_edt_recipe_values():
    scratch = get_config(os.path.join(ROOT, 'configs', 'edt', 'edt_b_sr_x2_df2k.yml'))
    assert scratch['train']['total_iters'] == 500_000 and scratch['data']['train']['crop_size'] == 48
    assert scratch['lr_scheduler']['milestones'] == [250_000, 400_000, 450_000, 475_000]
    ft = get_config(os.path.join(ROOT, 'configs', 'edt', 'edt_b_sr_x3_df2k_ft.yml'))
    assert (ft['model'], ft['optimizer']['lr'], ft['lr_scheduler']['type']) == (
        {'type': 'edt_b_sr_x3', 'init_branch': 'sr_x3'}, 1e-5, 'ConstantLR')
    dn = get_config(os.path.join(ROOT, 'configs', 'edt', 'edt_b_dn_g15_d4_ft.yml'))
    assert dn['data']['train']['crop_size'] == 192 and dn['lr_scheduler']['milestones'] == []
    assert dn['train']['total_iters'] == 800_000 and dn['data']['val']['clip'] is False
    t = get_config(os.path.join(ROOT, 'configs', 'edt', 'edt_t_sr_x4_df2k.yml'))
    assert t['model']['type'] == 'edt_t_sr_x4' and t['optimizer']['lr'] == 2e-4


def test_enhancement_task_trains_on_crops_and_predicts_any_size():
    from ppuhd.tasks.enhancement import EnhancementTask
    paddle.seed(13)
    task = EnhancementTask(EDT(tasks=('sr_x2',), **TINY), losses=[{'name': 'l1', 'type': 'L1Loss'}])
    task.train()
    out = task({'lq': paddle.rand([2, 3, 24, 48]), 'gt': paddle.rand([2, 3, 48, 96])})
    out['loss'].backward()
    assert float(out['loss']) > 0 and task.model.head_sr_x2[0].weight.grad is not None
    task.eval()
    pred = task.predict({'lq': paddle.rand([1, 3, 19, 23]), 'gt': paddle.rand([1, 3, 38, 46])})['pred']
    assert pred.shape == [1, 3, 38, 46]
