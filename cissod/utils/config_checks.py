"""Checks run on a config before a runner is built.

They turn the usual late, cryptic failures (a KeyError deep inside the
dataset, a shape mismatch in the loss, a silently empty class list) into one
early error that names the problem and the fix:

* an annotation file that does not exist (with how to make it);
* configured class names that the annotation file does not contain;
* a detector whose ``num_classes`` differs from the dataset's classes;
* a ``load_from`` checkpoint (e.g. the demo's burn-in) that does not exist;
* the data itself (files up to ``MAX_PARSE_BYTES``): valid JSON, unique
  image / annotation ids, known categories and images, finite numbers,
  boxes of positive size inside their image, every image file on disk and
  not empty, its header readable with the JSON's size (``read_headers``),
  and no image in two of the checked datasets
  (``cissod_core.datasets.coco_checks``).
"""
import os.path as osp
from typing import Dict, Iterator, Optional, Sequence, Tuple

from mmengine.config import Config

from cissod_core.datasets import (
    CocoFileSummary,
    check_coco_file,
    check_image_files,
    load_coco_json,
)
from cissod_core.datasets.coco_checks import check_disjoint_images

#: Annotation files above this size are not parsed for the class check
#: (COCO/LVIS/Objects365 train files take minutes to load).
MAX_PARSE_BYTES = 64 * 1024 * 1024

_SPLIT_HINT = {
    'data/demo': ('generate the demo data with `make data` '
                  '(python tools/make_demo_data.py)'),
}

_LOADER_OF_MODE = {
    'train': 'train_dataloader',
    'val': 'val_dataloader',
    'test': 'test_dataloader'
}


def iter_dataset_cfgs(dataset_cfg: dict) -> Iterator[dict]:
    """Yield every leaf dataset config inside wrappers such as
    ``ConcatDataset`` (``datasets``) or ``ClassBalancedDataset``
    (``dataset``)."""
    if dataset_cfg is None:
        return
    if 'datasets' in dataset_cfg:
        for sub in dataset_cfg['datasets']:
            yield from iter_dataset_cfgs(sub)
    elif 'dataset' in dataset_cfg:
        yield from iter_dataset_cfgs(dataset_cfg['dataset'])
    else:
        yield dataset_cfg


def _resolve_ann_file(dataset_cfg: dict) -> Optional[str]:
    ann_file = dataset_cfg.get('ann_file')
    if not ann_file:
        return None
    data_root = dataset_cfg.get('data_root') or ''
    if osp.isabs(ann_file) or not data_root:
        return ann_file
    return osp.join(data_root, ann_file)


def _missing_file_hint(path: str) -> str:
    norm = osp.normpath(path)
    for prefix, hint in _SPLIT_HINT.items():
        if prefix in norm:
            return hint
    return ('check `data_root`/`ann_file` in the config or build the split '
            'files first (see docs and tools/make_splits.py)')


def _dataset_classes(dataset_cfg: dict) -> Optional[Tuple[str, ...]]:
    metainfo = dataset_cfg.get('metainfo') or {}
    if metainfo.get('classes'):
        return tuple(metainfo['classes'])
    from mmdet.registry import DATASETS
    ds_type = dataset_cfg.get('type')
    ds_cls = DATASETS.get(ds_type) if isinstance(ds_type, str) else ds_type
    if ds_cls is None:
        return None
    classes = getattr(ds_cls, 'METAINFO', {}).get('classes')
    return tuple(classes) if classes else None


def _img_dir(dataset_cfg: dict) -> str:
    prefix = (dataset_cfg.get('data_prefix') or {}).get('img', '')
    data_root = dataset_cfg.get('data_root') or ''
    if osp.isabs(prefix) or not data_root:
        return prefix
    return osp.join(data_root, prefix)


def _check_data(ann_path: str, dataset_cfg: dict, mode: str,
                read_headers: bool) -> Optional[CocoFileSummary]:
    """Data checks of one COCO file and its images (``None``: not a COCO
    JSON file below ``MAX_PARSE_BYTES``)."""
    if not ann_path.endswith('.json') or \
            osp.getsize(ann_path) > MAX_PARSE_BYTES:
        return None
    data = load_coco_json(ann_path, mode)
    summary = check_coco_file(ann_path, _img_dir(dataset_cfg), mode, data)
    if '://' not in summary.img_dir:
        check_image_files(summary, read_headers=read_headers)
    return summary


def _find_num_classes(model_cfg: dict) -> Dict[str, int]:
    """All ``num_classes`` of a model config except the RPN's, by path."""
    found: Dict[str, int] = {}

    def visit(node, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                sub = f'{path}.{key}' if path else key
                if key == 'num_classes' and isinstance(value, int) \
                        and 'rpn_head' not in path:
                    found[sub] = value
                else:
                    visit(value, sub)
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                visit(value, f'{path}[{i}]')

    visit(model_cfg, '')
    return found


def check_config(cfg: Config,
                 modes: Sequence[str] = ('train', 'val'),
                 read_headers: bool = True) -> None:
    """Validate data files, class names and ``num_classes`` of a config.

    Args:
        cfg (Config): A loaded mmengine config.
        modes (Sequence[str]): Which dataloaders to check, among ``'train'``,
            ``'val'`` and ``'test'``.
        read_headers (bool): Read every image's header (format and size,
            about 1 s per 10,000 images here, bench/bench_image_checks.py)
            besides the ``stat`` (exists, non-empty). Defaults to True.

    Raises:
        FileNotFoundError: An annotation file is missing.
        ValueError: Class names are not in the annotation file, or
            ``num_classes`` disagrees with the dataset's classes.
    """
    load_from = cfg.get('load_from')
    if load_from and not cfg.get('resume', False) and '://' not in load_from \
            and not osp.isfile(load_from):
        raise FileNotFoundError(
            f'load_from={load_from} does not exist: train the config that '
            'produces it first (for the demo: `python tools/train.py '
            'configs/demo/faster-rcnn_sup_demo.py`, or `make demo`), or set '
            '--cfg-options load_from=None to train from scratch.')
    num_classes = _find_num_classes(cfg.get('model', {}))
    summaries: Dict[str, CocoFileSummary] = {}
    for mode in modes:
        loader = cfg.get(_LOADER_OF_MODE[mode])
        if not loader:
            continue
        for ds_cfg in iter_dataset_cfgs(loader.get('dataset')):
            ann_path = _resolve_ann_file(ds_cfg)
            if ann_path is None:
                continue
            if not osp.isfile(ann_path):
                raise FileNotFoundError(
                    f'{mode} annotation file {ann_path} does not exist: '
                    f'{_missing_file_hint(ann_path)}')
            summary = summaries.get(ann_path)
            if summary is None:
                summary = _check_data(ann_path, ds_cfg, mode, read_headers)
                if summary is not None:
                    summaries[ann_path] = summary
            classes = _dataset_classes(ds_cfg)
            if classes is None:
                continue
            if summary is not None:
                names = summary.class_names
                missing = [c for c in classes if c not in set(names)]
                if missing:
                    raise ValueError(
                        f'{len(missing)} class name(s) of the {mode} dataset '
                        f'are not categories of {ann_path}: {missing}. The '
                        f'file has: {names}. Set `metainfo=dict(classes=...)`'
                        ' of the dataset to the names in the file.')
            wrong = {k: v for k, v in num_classes.items() if v != len(classes)}
            if wrong:
                raise ValueError(
                    f'num_classes mismatch: the {mode} dataset has '
                    f'{len(classes)} classes but the model config sets '
                    f'{wrong}. Set num_classes={len(classes)} (or fix the '
                    "dataset's metainfo classes).")
    check_disjoint_images(list(summaries.values()))
