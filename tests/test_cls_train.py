"""Short classification / distillation runs through tools/train.py and tools/eval.py, and on 2 CPU processes."""
import json
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest
from PIL import Image

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
HELPERS = os.path.join(ROOT, 'tests', 'helpers')
DEIT = os.path.join(ROOT, 'configs', 'deit')


def _run(args, check=True):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return proc


@pytest.fixture(scope='module')
def tiny_cls(tmp_path_factory):
    """4 classes of smooth coloured patterns (class = dominant colour), 8 train / 4 val images each, 40 px;
    plus the weights of a random regnety_002 teacher."""
    import ppuhd
    root = tmp_path_factory.mktemp('tiny_cls')
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:40] / 40.0
    for split, n in (('train', 8), ('val', 4)):
        for c in range(4):
            os.makedirs(root / split / f'class{c}')
            for k in range(n):
                img = 0.3 + 0.2 * np.sin(6 * xx + rng.uniform(0, 6))[..., None] * np.ones(3)
                img[..., c % 3] += 0.4 if c < 3 else -0.2
                pixels = (np.clip(img, 0, 1) * 255).astype('uint8')
                Image.fromarray(pixels).save(root / split / f'class{c}' / f'{k}.png')
    paddle.seed(0)
    teacher = ppuhd.create_model('regnety_002', num_classes=4, img_size=32)
    paddle.save(teacher.state_dict(), str(root / 'teacher.pdparams'))
    return root


def _config(tmp_path, data, base, depth=2):
    """A config on top of ``base`` shrunk to a seconds-long run: 2-block student, 32 px, 4 classes."""
    text = f"""_base_: {os.path.join(DEIT, base)}
output_dir: {tmp_path / 'run'}
num_threads: 1
model: {{num_classes: 4, img_size: 32, depth: {depth}}}
data:
  batch_size: 4
  eval_batch_size: 5
  train: {{root: {data}, transform: {{img_size: 32}}}}
  val: {{root: {data}, transform: {{img_size: 32}}}}
train: {{epochs: null, total_iters: 4, log_interval: 2, eval_interval: 2, save_interval: 2}}
"""
    if 'soft' in base or 'hard' in base:
        text += f"task: {{teacher: {{num_classes: 4, img_size: 32}}, teacher_weights: {data / 'teacher.pdparams'}}}\n"
    path = tmp_path / 'cfg.yml'
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize('base', ['deit_demo_student_none.yml', 'deit_demo_student_soft.yml',
                                  'deit_demo_student_hard.yml'])
def test_train_then_eval_prints_top1_top5(tiny_cls, tmp_path, base):
    cfg = _config(tmp_path, tiny_cls, base)
    _run(['tools/train.py', '-c', cfg])
    log = (tmp_path / 'run' / 'train.log').read_text()
    assert 'eval @ iter 4' in log and 'top1' in log and 'top5' in log
    if 'none' not in base:
        assert 'loss_kd' in log and 'loss_base' in log
    best = json.loads((tmp_path / 'run' / 'best.json').read_text())
    assert best['metric'] == 'top1' and 0 <= best['value'] <= 100
    state = paddle.load(str(tmp_path / 'run' / 'best_model.pdparams'))
    assert not any(k.startswith('teacher') or 'stem' in k for k in state)  # the teacher is not saved
    out = _run(['tools/eval.py', '-c', cfg, '--weights', str(tmp_path / 'run' / 'best_model.pdparams')]).stdout
    header, model_row = out.splitlines()[:2]
    assert header.split() == ['top1', 'top5', 'loss'] and model_row.split()[0] == 'model'
    top1, top5, loss = map(float, model_row.split()[1:])
    assert top1 == pytest.approx(best['metrics']['top1']) and top5 >= top1 and top5 == 100.0  # 4 classes
    assert loss > 0
    if 'none' in base:  # tools/infer.py on a classifier: top-k per image, named by the val set's class folders
        _check_infer_topk(cfg, tmp_path, tiny_cls)


def _check_infer_topk(cfg, tmp_path, data):
    import ppuhd
    from ppuhd.config import get_config
    from ppuhd.data import ImageFolderDataset
    out = tmp_path / 'classified'
    weights = str(tmp_path / 'run' / 'best_model.pdparams')
    proc = _run(['tools/infer.py', '-c', cfg, '--weights', weights, '--input', str(data / 'val' / 'class2'),
                 '--output', str(out), '--topk', '3'])
    results = json.loads((out / 'topk.json').read_text())
    assert sorted(results) == [f'{k}.png' for k in range(4)] and '0.png:\tclass id(s): [' in proc.stdout
    resolved = get_config(cfg)
    model = ppuhd.create_model(resolved['model']['type'], **{k: v for k, v in resolved['model'].items() if k != 'type'})
    model.set_state_dict(paddle.load(weights))
    model.eval()
    val = ImageFolderDataset(**{k: v for k, v in resolved['data']['val'].items() if k != 'type'})
    for sample in (val[i] for i in range(len(val)) if val.samples[i][1] == 2):
        with paddle.no_grad():
            probs = paddle.nn.functional.softmax(model(paddle.to_tensor(sample['image'][None])), -1)[0].numpy()
        top = results[sample['name']]
        assert [t['index'] for t in top] == list(np.argsort(-probs)[:3])
        assert [t['label'] for t in top] == [f"class{t['index']}" for t in top]
        np.testing.assert_allclose([t['score'] for t in top], np.sort(probs)[::-1][:3], atol=1e-6)


def test_distilled_run_on_two_processes(tiny_cls, tmp_path):
    cfg = _config(tmp_path, tiny_cls, 'deit_demo_student_hard.yml')
    proc = _run(['-m', 'paddle.distributed.launch', '--nproc_per_node', '2', '--log_dir', str(tmp_path / 'log'),
                 os.path.join(HELPERS, 'dist_train.py'), cfg, 'data.repeated_aug=3'], check=False)
    logs = ''.join((tmp_path / 'log' / f).read_text() for f in os.listdir(tmp_path / 'log'))
    assert proc.returncode == 0, logs[-4000:]
    ranks = [np.load(tmp_path / 'run' / f'rank{r}.npz') for r in (0, 1)]
    keys = [k for k in ranks[0].files if k != 'world']
    assert int(ranks[0]['world']) == 2 and all(np.array_equal(ranks[0][k], ranks[1][k]) for k in keys)
    assert 'global batch 8, 2 rank(s)' in (tmp_path / 'run' / 'train.log').read_text()


def test_demo_teacher_trains_with_a_convnet_recipe(tiny_cls, tmp_path):
    """`make demo-deit`'s teacher: RegNetY with crops, flips and colour jitter only (no RandAugment, random
    erasing, mixup or cutmix), trained and evaluated through the CLIs."""
    from ppuhd.config import get_config
    full = get_config(os.path.join(DEIT, 'deit_demo_teacher.yml'))
    assert full['model']['type'] == 'regnety_002' and full['task']['mixup'] is None
    assert full['data']['train']['transform']['auto_augment'] is None
    assert full['data']['train']['transform']['re_prob'] == 0.0
    path = tmp_path / 'teacher.yml'
    path.write_text(f"""_base_: {os.path.join(DEIT, 'deit_demo_teacher.yml')}
output_dir: {tmp_path / 'run'}
num_threads: 1
model: {{num_classes: 4, img_size: 32}}
data:
  batch_size: 4
  eval_batch_size: 5
  train: {{root: {tiny_cls}, transform: {{img_size: 32}}}}
  val: {{root: {tiny_cls}, transform: {{img_size: 32}}}}
train: {{epochs: null, total_iters: 4, log_interval: 2, eval_interval: 4, save_interval: 4}}
""")
    _run(['tools/train.py', '-c', str(path)])
    log = (tmp_path / 'run' / 'train.log').read_text()
    assert 'eval @ iter 4' in log and 'loss_kd' not in log
    out = _run(['tools/eval.py', '-c', str(path), '--weights', str(tmp_path / 'run' / 'best_model.pdparams')]).stdout
    assert out.splitlines()[0].split() == ['top1', 'top5', 'loss']
