"""cissod.stack: the supported stacks and the one message for the others."""
import pytest

from cissod import stack

CURRENT = {'torch': '2.12.1+cu130', 'mmengine': '0.10.12', 'mmcv': '2.3.6',
           'mmdet': '3.5.1'}
CLASSIC = {'torch': '2.5.1', 'mmengine': '0.10.7', 'mmcv': '2.1.0',
           'mmdet': '3.3.0'}


def test_parse_version():
    assert stack.parse_version('2.12.1+cu130') == (2, 12, 1)
    assert stack.parse_version('0.10.8rc1') == (0, 10, 8)
    assert stack.parse_version('3.4.0rc1') == (3, 4, 0)
    assert stack.parse_version('2.6') == (2, 6)


@pytest.mark.parametrize('versions,name', [
    (CURRENT, 'current'), (CLASSIC, 'classic'),
    (dict(CURRENT, torch='2.6.0'), 'current'),
    (dict(CLASSIC, torch='2.0.1', mmcv='2.0.0'), 'classic'),
    # torch >= 2.6 needs an mmengine that loads with weights_only=True
    (dict(CLASSIC, torch='2.6.0'), None),
    # upstream mmdet 3.3.0 asserts mmcv < 2.2.0
    (dict(CLASSIC, mmcv='2.3.6'), None),
    (dict(CURRENT, mmdet='3.3.0'), None),
    (dict(CURRENT, mmengine='0.10.7'), None),
])
def test_matching_stack(versions, name):
    assert stack.matching_stack(versions) == name


def test_unsupported_stack_names_both_stacks_and_the_fix(monkeypatch):
    monkeypatch.delenv('CISSOD_SKIP_STACK_CHECK', raising=False)
    found = dict(CLASSIC, torch='2.12.1')
    dists = {'torch': 'torch', 'mmengine': 'mmengine', 'mmcv': 'mmcv',
             'mmdet': 'mmdet'}
    monkeypatch.setattr(stack, 'installed_versions', lambda: (found, dists))
    with pytest.raises(ImportError) as err:
        stack.check_stack()
    msg = str(err.value)
    assert 'torch 2.12.1 (torch)' in msg and 'mmcv 2.1.0 (mmcv)' in msg
    assert 'current: torch >=2.6, mmengine >=0.10.8,<1.0' in msg
    assert 'classic: torch >=2.0,<2.6' in msg
    assert 'bash tools/install.sh' in msg and '--stack classic' in msg
    monkeypatch.setenv('CISSOD_SKIP_STACK_CHECK', '1')
    assert stack.check_stack() == 'unchecked'


def test_missing_package(monkeypatch):
    monkeypatch.delenv('CISSOD_SKIP_STACK_CHECK', raising=False)
    found = {k: v for k, v in CURRENT.items() if k != 'mmdet'}
    monkeypatch.setattr(stack, 'installed_versions', lambda: (found, {}))
    monkeypatch.setattr(stack, 'find_spec', lambda name: None)
    with pytest.raises(ImportError, match='mmdet not installed'):
        stack.check_stack()


def test_installed_stack_is_supported():
    """The environment the suite runs in is one of the two stacks."""
    versions, dists = stack.installed_versions()
    assert stack.matching_stack(versions) in stack.STACKS, (versions, dists)
    import cissod
    assert cissod.STACK == stack.matching_stack(versions)


def test_plugin_requirements_leave_the_stack_alone():
    """``pip install -e .`` must not replace torch, mmcv, mmengine or mmdet:
    the installed cissod declares none of them (two distributions provide
    each import name)."""
    from importlib import metadata
    requires = metadata.requires('cissod') or []
    names = {r.split(';')[0].split('[')[0].strip().split(' ')[0]
             .split('>')[0].split('<')[0].split('=')[0].lower()
             for r in requires}
    assert names, requires
    stack_names = {'torch', 'torchvision', 'mmcv', 'mmengine', 'mmdet',
                   'onedl-mmcv', 'onedl-mmengine', 'onedl-mmdetection'}
    assert not names & stack_names, names
