"""The commands in README.md, docs/*.md and the notebooks are true to the code.

Every ``python <script>.py ...`` / ``python -m ppuhd.<module> ...`` command shown (fenced blocks,
indented blocks, inline code, notebook ``!`` lines) is parsed by that script's real argparse parser
(the script's ``main`` is called with ``parse_args`` stopped right after parsing, so nothing runs);
its ``-c`` config is loaded with its ``-o`` overrides (unknown keys are errors); every ``make``
target named exists; every ``configs/...yml`` path named anywhere exists. The demo commands
themselves are executed by the other tests (tools, trainer, deploy, notebooks).
"""
import argparse
import glob
import importlib
import importlib.util
import itertools
import json
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from ppuhd.config import get_config

DOCS = ['README.md'] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, 'docs', '*.md')))
NOTEBOOKS = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, 'notebooks', '*.ipynb')))
SHELL_STOPS = {'|', '||', '&&', ';', '>', '>>', '2>&1', '&'}


def _read(rel: str) -> str:
    with open(os.path.join(ROOT, rel), encoding='utf-8') as f:
        return f.read()


def _notebook_lines(rel: str):
    cells = json.loads(_read(rel))['cells']
    for cell in cells:
        if cell['cell_type'] == 'code':
            for line in ''.join(cell['source']).splitlines():
                if line.lstrip().startswith('!'):
                    yield line.lstrip()[1:]


def _doc_lines(text: str):
    """Candidate command lines: code blocks (continuations joined) and inline code spans."""
    lines, in_fence = [], False
    for line in text.splitlines():
        if line.lstrip().startswith('```'):
            in_fence = not in_fence
            continue
        if in_fence or line.startswith('    '):
            lines.append(line.strip())
        else:
            lines.extend(re.findall(r'`([^`]+)`', line))
    joined, buf = [], ''
    for line in lines:
        if line.endswith('\\'):
            buf += line[:-1] + ' '
            continue
        joined.append(buf + line)
        buf = ''
    return joined


def _synopsis_tokens(tokens):
    """Usage synopses: '[--softmax]' -> '--softmax', 'auto|PATH' -> 'auto', '...' dropped (or a placeholder value)."""
    out = []
    for tok in tokens:
        if tok == '[options]':
            continue
        if tok in ('...', '[...]'):
            if out and out[-1].startswith('-'):
                out.append('PLACEHOLDER')  # '-c ...': a value left to the reader
            continue
        tok = tok.strip('[]')
        if '|' in tok and not tok.startswith(('{', "'")) and '=' not in tok:
            tok = tok.split('|')[0]
        if tok:
            out.append(tok)
    return out


def _commands():
    """(source, script or module, argv) of every python command shown to users."""
    sources = [(rel, _doc_lines(_read(rel))) for rel in DOCS] + [(rel, list(_notebook_lines(rel))) for rel in NOTEBOOKS]
    for rel, lines in sources:
        for line in lines:
            if not re.search(r'(^|\s)python3?\s', line):
                continue
            try:
                tokens = shlex.split(line, comments=True)
            except ValueError:
                continue
            tokens = list(itertools.takewhile(lambda t: t not in SHELL_STOPS, tokens))
            start = next((i for i, t in enumerate(tokens) if re.fullmatch(r'python3?', t)), None)
            if start is None:
                continue
            rest = tokens[start + 1:]
            if rest[:2] == ['-m', 'paddle.distributed.launch']:
                rest = rest[next(i for i, t in enumerate(rest) if t.endswith('.py')):]
            if rest and rest[0] == '-m' and len(rest) > 1 and rest[1].startswith('ppuhd.'):
                yield rel, rest[1], _synopsis_tokens(rest[2:])
            elif rest and rest[0].endswith('.py') and rest[1:] != ['...']:  # 'server.py ...': an abbreviation
                script = os.path.normpath(rest[0].replace('../', '', 1) if rel.startswith('notebooks') else rest[0])
                yield rel, script, _synopsis_tokens(rest[1:])


COMMANDS = list(_commands())


class _Parsed(Exception):
    def __init__(self, namespace):
        super().__init__('parsed')
        self.namespace = namespace


def _load_main(target: str):
    if target.startswith('ppuhd.'):
        return importlib.import_module(target).main
    path = os.path.join(ROOT, target)
    assert os.path.isfile(path), f'{target} does not exist'
    spec = importlib.util.spec_from_file_location('_doc_' + re.sub(r'\W', '_', target), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def parse_with_real_parser(target: str, argv, monkeypatch) -> argparse.Namespace:
    real = argparse.ArgumentParser.parse_args

    def parse_only(self, args=None, namespace=None):
        raise _Parsed(real(self, args, namespace))

    main = _load_main(target)
    monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', parse_only)
    try:
        main(argv)
    except _Parsed as parsed:
        return parsed.namespace
    except SystemExit as err:
        pytest.fail(f'{target} {shlex.join(argv)}: rejected by its argument parser (exit {err.code})')
    pytest.fail(f'{target}: main() returned without parsing arguments')


def test_the_docs_show_commands_of_every_tool():
    shown = {target for _, target, _ in COMMANDS}
    for tool in ('tools/train.py', 'tools/eval.py', 'tools/infer.py', 'tools/export.py', 'tools/convert_weights.py',
                 'tools/make_demo_data.py', 'tools/extract_subimages.py', 'deploy/python/infer.py',
                 'deploy/python/benchmark.py', 'deploy/serving/server.py'):
        assert tool in shown, f'{tool} is not shown in README/docs'


@pytest.mark.parametrize('source, target, argv', COMMANDS, ids=[f'{s}:{t}:{i}' for i, (s, t, _) in enumerate(COMMANDS)])
def test_command_parses_and_its_config_loads(source, target, argv, monkeypatch):
    args = parse_with_real_parser(target, argv, monkeypatch)
    config = getattr(args, 'config', None)
    if config and config.endswith('.yml') and '/path/' not in config:
        config = config.replace('../', '', 1) if source.startswith('notebooks') else config
        assert os.path.isfile(os.path.join(ROOT, config)), f'{source}: {config} does not exist'
        get_config(os.path.join(ROOT, config), getattr(args, 'override', []))  # unknown -o keys raise


def _expand(pattern: str):
    match = re.search(r'\{([^{}]*)\}', pattern)
    if not match:
        return [pattern]
    if ',' not in match.group(1):  # a Python format field ({run}): any file there
        return _expand(pattern[:match.start()] + '*' + pattern[match.end():])
    return [p for alt in match.group(1).split(',') for p in _expand(pattern[:match.start()] + alt + pattern[match.end():])]


def test_every_config_path_named_exists():
    texts = [(rel, _read(rel)) for rel in DOCS + NOTEBOOKS + ['Makefile']]
    missing = []
    for rel, text in texts:
        for path in set(re.findall(r'configs/[\w/{},*.-]+?\.yml', text)):
            if '$' in path:
                continue
            for candidate in _expand(path):
                if not glob.glob(os.path.join(ROOT, candidate)):
                    missing.append(f'{rel}: {candidate}')
    assert not missing, missing


def test_every_make_target_named_exists():
    targets = set(re.findall(r'^([\w-]+):', _read('Makefile'), flags=re.M))
    named = set()
    for rel in DOCS:
        for line in _doc_lines(_read(rel)):
            named.update(re.findall(r'(?:^|\s|=\S+\s)make\s+([\w-]+)', line))
    assert named, 'no make command found in the docs'
    assert not named - targets, f'make targets named but not in the Makefile: {sorted(named - targets)}'


def test_the_checker_rejects_a_wrong_flag(monkeypatch):
    """The parse check can fail: a flag the tool does not have is caught."""
    with pytest.raises(pytest.fail.Exception, match='rejected by its argument parser'):
        parse_with_real_parser('tools/train.py', ['-c', 'configs/uhdfour/uhdfour_demo.yml', '--epochs', '3'],
                               monkeypatch)


def _readme_section(title: str) -> str:
    text = _read('README.md')
    start = text.index(f'\n## {title}')
    end = text.find('\n## ', start + 1)
    return text[start:end if end > 0 else None]


def test_readme_walkthrough_script_runs_under_paddle_defaults(uhdfour_export, tmp_path):
    """Step 2 of the README's deploy walkthrough, exactly as shown, in a subprocess (a crash fails the test) whose
    working folder holds the paths it names, on the UHDFour demo export: it writes our predictor's output."""
    import cv2
    import skimage.data
    sys.path.insert(0, os.path.join(ROOT, 'deploy', 'python'))
    from predictor import Predictor, RunOptions
    script = re.search(r'```python\n(.*?)```', _readme_section('Deploy walkthrough'), re.S).group(1)
    (tmp_path / 'export').mkdir()
    os.symlink(uhdfour_export[0], tmp_path / 'export' / 'uhdfour_demo')
    photo = tmp_path / 'data' / 'demo' / 'testing_set' / 'input' / 'chelsea.png'
    photo.parent.mkdir(parents=True)
    rgb = cv2.resize(skimage.data.chelsea(), (75, 50), interpolation=cv2.INTER_AREA)  # not a multiple of 8
    cv2.imwrite(str(photo), rgb[:, :, ::-1])
    proc = subprocess.run([sys.executable, '-c', script], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS='1', GLOG_minloglevel='2'))
    assert proc.returncode == 0, f'the README script exited with {proc.returncode}:\n{proc.stderr[-3000:]}'
    written = cv2.imread(str(tmp_path / 'chelsea_enhanced.png'))[:, :, ::-1]
    ours = np.round(np.clip(Predictor(uhdfour_export[0], RunOptions(threads=1)).enhance(rgb), 0, 1) * 255)
    assert written.shape == rgb.shape and np.abs(written.astype(int) - ours).max() <= 1


def test_service_urls_shown_are_endpoints():
    """Every http://host:port/path a doc shows is an endpoint of deploy/serving/app.py."""
    import importlib.util as util
    spec = util.spec_from_file_location('_doc_serving_app', os.path.join(ROOT, 'deploy', 'serving', 'app.py'))
    app = util.module_from_spec(spec)
    spec.loader.exec_module(app)
    shown = {path for rel in DOCS for path in re.findall(r'http://[\w.-]+:\d+(/[\w/]*)', _read(rel))}
    assert shown and not shown - set(app.ENDPOINTS), sorted(shown - set(app.ENDPOINTS))
