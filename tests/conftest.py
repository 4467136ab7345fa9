"""Shared fixtures: a small demo dataset generated once per test session."""
import os
import os.path as osp

import pytest

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


def demo_cfg(config: str, data_root: str, work_dir: str, max_iters: int = 2,
             **overrides):
    """Load a demo config pointed at ``data_root`` for a short CPU run."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, config))
    root = data_root.rstrip('/') + '/'
    options = {
        'work_dir': work_dir,
        'train_cfg.max_iters': max_iters,
        'train_cfg.val_interval': 10**6,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': max_iters,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'val_dataloader.num_workers': 0,
        'val_dataloader.persistent_workers': False,
        'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
        'val_evaluator.ann_file': root + 'annotations/val.json',
        'test_evaluator.ann_file': root + 'annotations/val.json',
        'log_level': 'WARNING',
        'load_from': None,
    }
    options.update(overrides)
    cfg.merge_from_dict(options)
    set_data_root(cfg, root)
    return cfg


def set_data_root(cfg, root: str) -> None:
    """Point every dataset of every dataloader at ``root``."""
    from cissod.utils import iter_dataset_cfgs
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader:
            for ds in iter_dataset_cfgs(loader['dataset']):
                ds['data_root'] = root


os.environ.setdefault('OMP_NUM_THREADS', '2')
