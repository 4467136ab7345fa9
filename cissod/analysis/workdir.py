"""Find what a training run left in its work dir and rebuild its model."""
import copy
import glob
import json
import os
import os.path as osp
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch

__all__ = [
    'find_config', 'find_checkpoint', 'load_config', 'build_model',
    'get_detector', 'restore_iter', 'class_names', 'class_groups',
    'build_eval_dataset', 'iter_batches', 'resolve_data_path',
    'default_out_dir'
]


def find_config(work_dir: str) -> str:
    """The config ``tools/train.py`` dumped into ``work_dir``
    (``<work_dir>/<config>.py``; the newest when there are several)."""
    paths = sorted(glob.glob(osp.join(work_dir, '*.py')), key=osp.getmtime)
    if not paths:
        raise FileNotFoundError(
            f'no dumped config <work_dir>/<config>.py in {work_dir}: pass '
            '--config')
    return paths[-1]


def find_checkpoint(work_dir: str) -> str:
    """The checkpoint named by ``<work_dir>/last_checkpoint``, else the
    newest ``*.pth`` of the work dir."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            path = f.read().strip()
        if osp.isfile(path):
            return path
        local = osp.join(work_dir, osp.basename(path))
        if osp.isfile(local):  # work dir moved since training
            return local
    paths = sorted(glob.glob(osp.join(work_dir, '*.pth')), key=osp.getmtime)
    if not paths:
        raise FileNotFoundError(f'no checkpoint in {work_dir}: pass '
                                '--checkpoint')
    return paths[-1]


def load_config(work_dir: Optional[str] = None, config: Optional[str] = None):
    """mmengine Config from ``config`` or the one dumped in ``work_dir``;
    imports cissod and sets mmdet's default scope."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import cissod  # noqa: F401  (registers the components)
    cfg = Config.fromfile(config or find_config(work_dir))
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return cfg


def build_model(cfg, checkpoint: Optional[str] = None
                ) -> Tuple[torch.nn.Module, dict]:
    """Build ``cfg.model`` on the CPU, load ``checkpoint`` (if any), eval
    mode. Returns the model and the checkpoint's ``meta`` (``{}`` without
    one)."""
    from mmdet.registry import MODELS
    from mmengine.runner import load_checkpoint
    model = MODELS.build(copy.deepcopy(cfg.model))
    meta: dict = {}
    if checkpoint:
        ckpt = load_checkpoint(model, checkpoint, map_location='cpu',
                               logger='silent')
        meta = dict(ckpt.get('meta', {}))
    model.eval()
    return model, meta


def get_detector(model: torch.nn.Module, which: str = 'teacher'
                 ) -> torch.nn.Module:
    """``model.teacher`` / ``model.student`` of a semi-supervised detector,
    else the model itself."""
    if which not in ('teacher', 'student'):
        raise ValueError(f'which must be teacher or student, got {which}')
    return getattr(model, which, model)


def restore_iter(meta: dict) -> int:
    """Put the checkpoint's iteration into mmengine's message hub, where
    ``ClassImbalanceMixin`` reads it (SSOD warm-up over or not)."""
    from mmengine.logging import MessageHub
    it = int(meta.get('iter', 0))
    MessageHub.get_current_instance().update_info('iter', it)
    return it


def class_names(cfg, meta: Optional[dict] = None) -> List[str]:
    """Class names: the checkpoint's dataset meta, else the config's test
    dataset metainfo."""
    names = (meta or {}).get('dataset_meta', {}).get('classes')
    if not names:
        ds = cfg.test_dataloader.dataset
        names = (ds.get('metainfo') or {}).get('classes')
    if not names:
        raise ValueError('no class names in the checkpoint or the config')
    return list(names)


def class_groups(cfg, names: Sequence[str]) -> Dict[str, str]:
    """``{class: group}`` from the evaluator's ``class_groups`` (e.g.
    majority / minority), else ``meta.json`` next to the data, else {}."""
    groups = {}
    for key in ('test_evaluator', 'val_evaluator'):
        ev = cfg.get(key)
        if isinstance(ev, dict) and ev.get('class_groups'):
            for group, members in ev['class_groups'].items():
                for c in members:
                    groups.setdefault(c, group)
            return groups
    root = cfg.test_dataloader.dataset.get('data_root') or ''
    meta_path = osp.join(root, 'meta.json')
    if osp.isfile(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        for group in ('majority', 'minority'):
            for c in meta.get(group, []):
                groups[c] = group
    return {c: groups[c] for c in names if c in groups}


def resolve_data_path(path: str, data_root: str) -> str:
    """``path`` as given when it exists or is absolute, else under
    ``data_root`` (config style)."""
    if osp.isabs(path) or osp.exists(path) or not data_root:
        return path
    return osp.join(data_root, path)


def build_eval_dataset(cfg, ann_file: Optional[str] = None,
                       img_prefix: Optional[str] = None,
                       with_gt: bool = False):
    """The config's test dataset with the test pipeline, optionally on
    another annotation file / image folder (paths relative to the test
    dataset's ``data_root``, or absolute), optionally loading the ground
    truth boxes (``LoadAnnotations`` after the image is loaded)."""
    from mmdet.registry import DATASETS
    ds_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    if 'datasets' in ds_cfg or 'dataset' in ds_cfg:
        raise ValueError('the test dataset is a wrapper; pass a config '
                         'with a plain test dataset')
    root = ds_cfg.get('data_root') or ''
    if ann_file:
        ds_cfg['ann_file'] = osp.abspath(resolve_data_path(ann_file, root))
    if img_prefix:
        ds_cfg['data_prefix'] = dict(
            img=osp.abspath(resolve_data_path(img_prefix, root)) + os.sep)
    ds_cfg['test_mode'] = True
    pipeline = list(ds_cfg['pipeline'])
    if with_gt and not any(
            t.get('type') == 'LoadAnnotations' for t in pipeline):
        pipeline.insert(1, dict(type='LoadAnnotations', with_bbox=True))
    ds_cfg['pipeline'] = pipeline
    return DATASETS.build(ds_cfg)


def iter_batches(dataset, indices: Sequence[int], batch_size: int = 8
                 ) -> Iterator[dict]:
    """Collated batches (``pseudo_collate``) of ``dataset[indices]``."""
    from mmengine.dataset import pseudo_collate
    for start in range(0, len(indices), batch_size):
        chunk = indices[start:start + batch_size]
        yield pseudo_collate([dataset[i] for i in chunk])


def default_out_dir(work_dir: str, out_dir: Optional[str]) -> str:
    """``out_dir`` or ``<work_dir>/analysis``, created."""
    out = out_dir or osp.join(work_dir, 'analysis')
    os.makedirs(out, exist_ok=True)
    return out
