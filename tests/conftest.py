"""Shared fixtures: a small demo dataset generated once per test session."""
import os
import os.path as osp

import pytest

from cissod.utils.short_run import set_data_root  # noqa: F401
from cissod.utils.short_run import short_run_cfg as demo_cfg  # noqa: F401

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session')
def demo_data_root(tmp_path_factory) -> str:
    """A small copy of the demo data (200 train / 60 val images)."""
    from cissod_core.demo import ensure_demo_data
    root = str(tmp_path_factory.mktemp('demo_data'))
    ensure_demo_data(root, num_train=200, num_val=60, labeled_fraction=0.1,
                     verbose=False)
    return root


@pytest.fixture
def torch_load_calls(monkeypatch) -> list:
    """The ``weights_only`` argument of every ``torch.load`` of the test
    (None where not given)."""
    import torch
    calls = []
    real_load = torch.load

    def recording_load(*args, **kwargs):
        calls.append(kwargs.get('weights_only'))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, 'load', recording_load)
    return calls


os.environ.setdefault('OMP_NUM_THREADS', '2')
