"""train -> eval -> infer through the real CLIs on tiny crops; per-file errors in infer."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import DEMO_CFG, ROOT, tiny_overrides


def _tool(name, *args, check=True):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', name), *args], capture_output=True,
                          text=True, env=env, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f'{name} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return proc


def _overrides(*items):
    return [a for item in items for a in ('-o', item)]


@pytest.fixture(scope='module')
def trained(tiny_uhdll, tmp_path_factory):
    out = tmp_path_factory.mktemp('e2e')
    _tool('train.py', '-c', DEMO_CFG, *_overrides(*tiny_overrides(tiny_uhdll, out, iters=4, interval=4)))
    return out


def test_eval_reports_model_and_input_baseline(trained, tiny_uhdll):
    weights = str(trained / 'best_model.pdparams')
    proc = _tool('eval.py', '-c', DEMO_CFG, '--weights', weights,
                 *_overrides(*tiny_overrides(tiny_uhdll, trained)))
    assert 'model' in proc.stdout and 'input' in proc.stdout
    result = json.loads((trained / 'eval.json').read_text())
    assert result['images'] == 2 and set(result['per_image']) == {'img000', 'img001'}
    for key in ('psnr', 'ssim', 'input_psnr', 'input_ssim'):
        assert np.isfinite(result['mean'][key])
    # the baseline is the unprocessed low-light input: dark, so its PSNR is low
    assert result['mean']['input_psnr'] < 15


def test_infer_writes_images_and_reports_bad_files(trained, tiny_uhdll, tmp_path):
    src = tmp_path / 'in'
    src.mkdir()
    for name in ('img000', 'img001'):
        img = cv2.imread(os.path.join(tiny_uhdll, 'testing_set', 'input', name + '.png'))
        cv2.imwrite(str(src / (name + '.png')), img)
    (src / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n garbage')
    out = tmp_path / 'out'
    proc = _tool('infer.py', '-c', DEMO_CFG, '--weights', str(trained / 'final_model.pdparams'),
                 '--input', str(src), '--output', str(out), '--side-by-side', check=False)
    assert proc.returncode == 1
    assert 'broken.png' in proc.stderr and '2/3 images written' in proc.stdout
    written = cv2.imread(str(out / 'img000.png'))
    assert written.shape == (40, 88, 3)  # side by side, original size restored after padding


def test_missing_weights_and_bad_override_are_clear_errors(tiny_uhdll, tmp_path):
    proc = _tool('eval.py', '-c', DEMO_CFG, '--weights', str(tmp_path / 'nope.pdparams'),
                 *_overrides(*tiny_overrides(tiny_uhdll, tmp_path)), check=False)
    assert proc.returncode == 2 and 'nope.pdparams' in proc.stderr and 'Traceback' not in proc.stderr
    proc = _tool('train.py', '-c', DEMO_CFG, '-o', 'optimizer.betaa1=0.5', check=False)
    assert proc.returncode == 2 and 'optimizer.beta1' in proc.stderr


def test_missing_dataset_folder_fails_before_training(tmp_path):
    proc = _tool('train.py', '-c', DEMO_CFG, '-o', f"data.train.root='{tmp_path / 'absent'}'",
                 '-o', f"output_dir='{tmp_path / 'out'}'", check=False)
    assert proc.returncode == 2 and 'absent' in proc.stderr and 'Traceback' not in proc.stderr


def test_eval_with_the_official_recipe_needs_no_vgg_weights(trained, tiny_uhdll, tmp_path):
    """uhdfour_uhdll.yml trains with a perceptual loss whose VGG19 weights are absent here;
    evaluating converted or trained weights with it must not need them."""
    uhdll = os.path.join(ROOT, 'configs', 'uhdfour', 'uhdfour_uhdll.yml')
    proc = _tool('eval.py', '-c', uhdll, '--weights', str(trained / 'final_model.pdparams'),
                 *_overrides(f'data.val.root={tiny_uhdll!r}', f"output_dir='{tmp_path}'", 'device="cpu"'))
    assert 'model' in proc.stdout and (tmp_path / 'eval.json').exists()
    proc = _tool('train.py', '-c', uhdll, *_overrides(f'data.train.root={tiny_uhdll!r}',
                                                     f'data.val.root={tiny_uhdll!r}',
                                                     f"output_dir='{tmp_path / 'train'}'"), check=False)
    assert proc.returncode == 2 and 'vgg19' in proc.stderr.lower() and 'convert_weights' in proc.stderr


def _eval_json(path, **mean):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({'weights': 'w', 'images': 3, 'mean': mean, 'per_image': {}}))
    return str(path)


def test_compare_runs_means_spread_and_delta_over_seeds(tmp_path):
    for seed, (a, b) in enumerate([(80.0, 84.0), (82.0, 85.0), (78.0, 89.0)]):
        _eval_json(tmp_path / f'none_s{seed}' / 'eval.json', top1=a, loss=1.0)
        _eval_json(tmp_path / f'hard_s{seed}' / 'eval.json', top1=b, loss=0.5)
    out = tmp_path / 'summary.json'
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'compare_runs.py'), '--metric', 'top1',
                           '--baseline', 'none', f'none={tmp_path}/none_s*/eval.json',
                           f'hard={tmp_path}/hard_s*/eval.json', '--json', str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    none, hard = result['none']['metrics']['top1'], result['hard']['metrics']['top1']
    # hand-computed: none 80 +- 2 (78..82), hard 86 +- sqrt(7) (84..89), +6 points
    assert none['n'] == hard['n'] == 3 and set(result['hard']['metrics']) == {'top1'}
    assert (none['mean'], none['std'], none['min'], none['max']) == pytest.approx((80.0, 2.0, 78.0, 82.0))
    assert (hard['mean'], hard['std'], hard['delta']) == pytest.approx((86.0, 7 ** 0.5, 6.0))
    assert '| hard | 3 | top1 | 86.0000 | 2.6458 | 84.0000 .. 89.0000 | +6.0000 |' in proc.stdout


@pytest.mark.parametrize('args, message', [
    (['none={d}/missing_s*/eval.json'], 'no file matches'),
    (['none={d}/a/eval.json', '--metric', 'top5'], "metric 'top5' is missing from"),
    (['none={d}/a/eval.json', '--baseline', 'hard'], "--baseline 'hard' is not one of the groups"),
    (['none={d}/bad.json'], 'not JSON'),
    (['none'], 'expected label=file'),
])
def test_compare_runs_names_the_bad_group_or_file(tmp_path, args, message):
    _eval_json(tmp_path / 'a' / 'eval.json', top1=1.0)
    (tmp_path / 'bad.json').write_text('{"mean": ')
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'compare_runs.py'),
                           *[a.format(d=tmp_path) for a in args]], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and message in proc.stderr and 'Traceback' not in proc.stderr
