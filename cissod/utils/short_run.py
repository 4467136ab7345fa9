"""A config for a short CPU run on a given data root (tests, benchmarks)."""
import os.path as osp
from typing import Any

from mmengine.config import Config

from .config_checks import iter_dataset_cfgs

#: the repository root: configs are named relative to it
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def set_data_root(cfg: Config, root: str) -> None:
    """Point every dataset of every dataloader of ``cfg`` at ``root``."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader:
            for ds in iter_dataset_cfgs(loader['dataset']):
                ds['data_root'] = root


def short_run_cfg(config: str, data_root: str, work_dir: str,
                  max_iters: int = 2, **overrides: Any) -> Config:
    """``config`` (relative to the repository) pointed at ``data_root``
    (a demo-data layout) for ``max_iters`` iterations: no worker
    processes, no evaluation during training, a checkpoint at the end,
    ``load_from=None``; ``overrides`` as ``--cfg-options``."""
    cfg = Config.fromfile(osp.join(REPO, config))
    root = data_root.rstrip('/') + '/'
    options = {
        'work_dir': work_dir,
        'train_cfg.max_iters': max_iters,
        'train_cfg.val_interval': 10**6,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': max_iters,
        'val_evaluator.ann_file': root + 'annotations/val.json',
        'test_evaluator.ann_file': root + 'annotations/val.json',
        'log_level': 'WARNING',
        'load_from': None,
    }
    for loader in ('train', 'val', 'test'):
        options[f'{loader}_dataloader.num_workers'] = 0
        options[f'{loader}_dataloader.persistent_workers'] = False
    options.update(overrides)
    cfg.merge_from_dict(options)
    set_data_root(cfg, root)
    return cfg
