"""Rules of the repository kept by tests (as tests/core/test_core_purity.py
keeps the core free of OpenMMLab)."""
import os.path as osp
import re
import subprocess

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _tracked(*patterns):
    out = subprocess.run(['git', 'ls-files', *patterns], cwd=REPO,
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_no_sys_path_manipulation():
    """Tools, tests and benchmarks import the installed packages."""
    bad = [f for f in _tracked('*.py')
           if re.search(r'sys\.path\.(insert|append)|sys\.path\s*\+?=',
                        open(osp.join(REPO, f)).read())]
    assert not bad, bad


def test_architecture_names_every_module():
    doc = open(osp.join(REPO, 'docs', 'architecture.md')).read()
    missing = []
    for f in _tracked('cissod/*.py', 'cissod_core/*.py'):
        if f.endswith('__init__.py'):
            continue
        folder, name = osp.split(f)
        # a row names the path, or the folder's path and the file name
        if f not in doc and not (f'`{folder}/' in doc and name in doc):
            missing.append(f)
    assert not missing, 'add rows to docs/architecture.md: ' + str(missing)


def test_readme_stays_short():
    lines = open(osp.join(REPO, 'README.md')).read().splitlines()
    assert len(lines) <= 300, len(lines)
