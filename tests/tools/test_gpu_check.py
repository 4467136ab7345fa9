"""The GPU check cannot rot: its CPU path runs here at toy size, and its
wheel folder covers what the GPU node lacks.

``tools/gpu_check.sh --device cpu`` runs steps 2-4 of the check (exactness
against float64, bench/bench_gbr.py, Soft Teacher vs CISSOD iterations of
the CI-SSOD configs) at toy size; ``tools/prepare_gpu_wheels.sh``
downloads ``requirements/gpu_check.txt`` (not run here: no network in
tests; its ``--dry-run`` commands are checked).
"""
import os
import os.path as osp
import re
import subprocess
import sys
from importlib import metadata

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
WHEEL_LIST = osp.join(REPO, 'requirements', 'gpu_check.txt')


def _norm(name: str) -> str:
    return re.sub(r'[-_.]+', '-', name).lower()


def _wheel_list():
    text = open(WHEEL_LIST).read()
    pins = dict(line.split('==') for line in text.splitlines()
                if re.match(r'^[A-Za-z0-9_.-]+==', line))
    node = {_norm(n) for line in re.findall(r'^# node-provides: (.*)$', text,
                                            re.M) for n in line.split()}
    skip = {_norm(n) for line in re.findall(r'^# not-needed: (.*)$', text,
                                            re.M) for n in line.split()}
    return {_norm(k): v for k, v in pins.items()}, node, skip


def _requirements(dist: str):
    """The requirements of ``dist`` on this (Linux) machine, no extras."""
    from packaging.requirements import Requirement
    for text in metadata.requires(dist) or []:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({'extra': ''}):
            yield _norm(req.name)


def test_wheel_list_covers_what_the_check_imports():
    pins, node, skip = _wheel_list()
    provided = set(pins) | node | skip | {'opencv-python'}  # headless's cv2
    assert 'opencv-python-headless' in node
    todo, seen = ['onedl-mmengine', 'onedl-mmcv', 'onedl-mmdetection',
                  'cissod'], set()
    while todo:
        dist = todo.pop()
        if dist in seen or dist in node or dist in skip:
            continue
        seen.add(dist)
        assert dist in provided or dist == 'cissod', dist
        if dist == 'opencv-python':
            continue
        missing = [r for r in _requirements(dist) if r not in provided]
        assert not missing, f'{dist} needs {missing}: add them to ' \
            'requirements/gpu_check.txt (or node-provides)'
        todo.extend(_requirements(dist))


def test_wheel_list_pins_the_current_stack():
    pins, _, _ = _wheel_list()
    current = dict(
        line.split('==') for line in open(
            osp.join(REPO, 'requirements', 'current.txt')).read().splitlines()
        if re.match(r'^[A-Za-z0-9_.-]+==', line))
    for name, version in current.items():
        if _norm(name) in pins:
            assert pins[_norm(name)] == version, name
    for name in ('onedl-mmengine', 'onedl-mmcv', 'onedl-mmdetection'):
        assert pins[name] == metadata.version(name)


def test_prepare_wheels_downloads_each_pin_for_cp312():
    pins, _, _ = _wheel_list()
    res = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'prepare_gpu_wheels.sh'),
         '/tmp/unused-wheels', '--dry-run'], capture_output=True, text=True,
        env=dict(os.environ, PYTHON=sys.executable))
    assert res.returncode == 0, res.stderr
    commands = res.stdout.strip().splitlines()
    assert len(commands) == len(pins)
    for command in commands:
        name = _norm(command.split()[-1].split('==')[0])
        assert command.split()[-1] == f'{name}=={pins[name]}' or \
            _norm(command.split()[-1]) == _norm(f'{name}=={pins[name]}')
        assert '--no-deps' in command
        if name == 'onedl-mmcv':
            assert '--no-binary :all:' in command
        else:
            assert '--python-version 3.12' in command
            assert '--platform manylinux_2_28_x86_64' in command


@pytest.fixture(scope='module')
def toy_table(tmp_path_factory):
    out = tmp_path_factory.mktemp('gpu_check') / 'table.md'
    res = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'gpu_check.sh'), '--device', 'cpu',
         '--out', str(out)], capture_output=True, text=True, timeout=1200,
        env=dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='2'))
    assert res.returncode == 0, res.stderr[-4000:]
    assert open(out).read() in res.stdout
    return open(out).read()


def _rows(table: str, section: str):
    part = table.split(f'## {section}')[1].split('\n## ')[0]
    return [[c.strip() for c in line.strip('|').split('|')]
            for line in part.splitlines()
            if line.startswith('|') and not line.startswith('|--')][1:]


def test_toy_exactness_is_within_float32(toy_table):
    rows = _rows(toy_table, 'Exactness')
    checks = {(r[0], r[1]) for r in rows}
    for name in ('G (focal, gamma 1)', 'solver power', 'solver direct',
                 'solver jacobi', 'GbT thresholds', 'CrS image factors'):
        assert {(name, '81'), (name, '1204')} <= checks, name
    for name, C, fp32, autocast in rows:
        assert float(fp32) < 1e-5, (name, C, fp32)
        assert float(autocast) < 1e-2, (name, C, autocast)


def test_toy_bench_and_iterations(toy_table):
    bench = _rows(toy_table, 'bench/bench_gbr.py')
    assert [r[0] for r in bench] == ['81']
    assert all(float(v) > 0 for v in bench[0][1:])
    iters = _rows(toy_table, 'Full-size iteration')
    assert [(r[0], r[1]) for r in iters] == [('soft_teacher', 'fp32'),
                                            ('cissod', 'fp32')]
    st, cissod = (float(r[2].split()[0]) for r in iters)
    assert float(iters[1][3]) == pytest.approx(cissod / st, rel=2e-3)
    assert iters[0][5] == '-' and iters[1][5].endswith('%')
    assert 0 < float(iters[1][5].rstrip(' %')) < 100
