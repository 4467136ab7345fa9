"""Dataloader and metric configs for a user's COCO-format dataset.

``custom_data`` (a plain dict in the config) describes the dataset::

    custom_data = dict(
        classes=('car', 'truck', 'bus'),               # category names
        class_groups=dict(majority=['car'], minority=['truck', 'bus']),
        labeled=dict(ann_file='.../labeled.json', img_dir='.../images/'),
        unlabeled=dict(ann_file='.../unlabeled.json', img_dir='...'),
        val=dict(ann_file='.../val.json', img_dir='.../images/'),
        train_scale=[(1333, 640), (1333, 800)],        # RandomResize range
        test_scale=(1333, 800))

The pipelines are mmdet's Soft Teacher ones (``semi_coco_detection.py``:
a supervised branch, a weak teacher branch and a strong student branch)
at the dataset's scale; every builder returns a dict with ``_delete_=True``
so that it replaces what the inherited config had.
"""
from typing import Any, Dict, List, Mapping, Optional

__all__ = [
    'custom_pipelines', 'custom_semi_loader', 'custom_labeled_loader',
    'custom_eval_loader', 'custom_group_metric'
]

_COLOR_SPACE = [[dict(type=t)] for t in (
    'ColorTransform', 'AutoContrast', 'Equalize', 'Sharpness', 'Posterize',
    'Solarize', 'Color', 'Contrast', 'Brightness')]
_GEOMETRIC = [[dict(type=t)] for t in (
    'Rotate', 'ShearX', 'ShearY', 'TranslateX', 'TranslateY')]
_BRANCHES = ['sup', 'unsup_teacher', 'unsup_student']
_SEMI_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'flip', 'flip_direction',
                   'homography_matrix')


def _scales(data: Mapping[str, Any]) -> List[tuple]:
    return [tuple(s) for s in data['train_scale']]


def custom_pipelines(data: Mapping[str, Any]) -> Dict[str, List[dict]]:
    """``{'labeled', 'sup', 'unsup', 'test'}`` pipelines at the data's scale.

    ``labeled`` is the supervised branch without the ``MultiBranch``
    wrapper (for the labeled-only burn-in).
    """
    scale = _scales(data)
    resize = dict(type='RandomResize', scale=scale, keep_ratio=True)
    flip = dict(type='RandomFlip', prob=0.5)
    load = dict(type='LoadImageFromFile')
    sup_head = [
        load,
        dict(type='LoadAnnotations', with_bbox=True), resize, flip,
        dict(type='RandAugment', aug_space=_COLOR_SPACE, aug_num=1),
        dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    ]
    weak = [resize, flip,
            dict(type='PackDetInputs', meta_keys=_SEMI_META_KEYS)]
    strong = [
        resize, flip,
        dict(type='RandomOrder', transforms=[
            dict(type='RandAugment', aug_space=_COLOR_SPACE, aug_num=1),
            dict(type='RandAugment', aug_space=_GEOMETRIC, aug_num=1),
        ]),
        dict(type='RandomErasing', n_patches=(1, 5), ratio=(0, 0.2)),
        dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
        dict(type='PackDetInputs', meta_keys=_SEMI_META_KEYS),
    ]
    return dict(
        labeled=sup_head + [dict(type='PackDetInputs')],
        sup=sup_head + [dict(type='MultiBranch', branch_field=_BRANCHES,
                             sup=dict(type='PackDetInputs'))],
        unsup=[
            load,
            dict(type='LoadEmptyAnnotations'),
            dict(type='MultiBranch', branch_field=_BRANCHES,
                 unsup_teacher=weak, unsup_student=strong),
        ],
        test=[
            load,
            dict(type='Resize', scale=tuple(data['test_scale']),
                 keep_ratio=True),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='PackDetInputs',
                 meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                            'scale_factor')),
        ])


def _dataset(data: Mapping[str, Any], part: str, pipeline: List[dict],
             **kwargs) -> dict:
    return dict(
        type='CocoDataset',
        data_root='',
        metainfo=dict(classes=tuple(data['classes'])),
        ann_file=data[part]['ann_file'],
        data_prefix=dict(img=data[part]['img_dir']),
        pipeline=pipeline,
        **kwargs)


def _train_loader(sampler: dict, datasets: List[dict], batch_size: int,
                  labeled_rfs_threshold: Optional[float],
                  num_workers: int) -> dict:
    """A ``train_dataloader`` over ``ConcatDataset(datasets)``."""
    sampler = dict(sampler, batch_size=batch_size)
    if labeled_rfs_threshold is not None:
        sampler['labeled_rfs_threshold'] = labeled_rfs_threshold
    return dict(
        _delete_=True,
        batch_size=batch_size,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        sampler=sampler,
        dataset=dict(type='ConcatDataset', datasets=datasets))


def custom_semi_loader(data: Mapping[str, Any],
                       sampler: str = 'ClassRebalancingMultiSourceSampler',
                       batch_size: int = 5,
                       source_ratio: tuple = (1, 4),
                       labeled_rfs_threshold: Optional[float] = None,
                       num_workers: int = 2) -> dict:
    """Labeled + unlabeled ``train_dataloader`` (per GPU).

    Args:
        data: The ``custom_data`` description.
        sampler: ``'ClassRebalancingMultiSourceSampler'`` (CISSOD: RFS on
            the labeled source, CrS on the unlabeled one) or mmdet's
            ``'GroupMultiSourceSampler'`` (Soft Teacher).
        batch_size: Images per GPU, split by ``source_ratio``.
        source_ratio: Labeled : unlabeled images per batch.
        labeled_rfs_threshold: RFS threshold of the labeled source
            (``ClassRebalancingMultiSourceSampler`` only).
        num_workers: Dataloader workers per GPU.
    """
    pipes = custom_pipelines(data)
    return _train_loader(
        dict(type=sampler, source_ratio=list(source_ratio)), [
            _dataset(data, 'labeled', pipes['sup'],
                     filter_cfg=dict(filter_empty_gt=True)),
            _dataset(data, 'unlabeled', pipes['unsup'],
                     filter_cfg=dict(filter_empty_gt=False)),
        ], batch_size, labeled_rfs_threshold, num_workers)


def custom_labeled_loader(data: Mapping[str, Any],
                          batch_size: int = 1,
                          labeled_rfs_threshold: Optional[float] = None,
                          num_workers: int = 2) -> dict:
    """Labeled-only ``train_dataloader`` of the supervised burn-in.

    The labeled source of the semi-supervised runs on its own: an infinite
    sampler (no dataloader restart per epoch under the iteration loop),
    images drawn by their RFS repeat factors when a threshold is given.
    """
    return _train_loader(
        dict(type='ClassRebalancingMultiSourceSampler', source_ratio=[1],
             crs_source=0), [
            _dataset(data, 'labeled', custom_pipelines(data)['labeled'],
                     filter_cfg=dict(filter_empty_gt=True))
        ], batch_size, labeled_rfs_threshold, num_workers)


def custom_eval_loader(data: Mapping[str, Any], batch_size: int = 1,
                       num_workers: int = 2) -> dict:
    """``val_dataloader`` / ``test_dataloader`` on the val file."""
    return dict(
        _delete_=True,
        batch_size=batch_size,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        drop_last=False,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=_dataset(data, 'val', custom_pipelines(data)['test'],
                         test_mode=True))


def custom_group_metric(data: Mapping[str, Any]) -> dict:
    """``GroupCocoMetric``: bbox AP over all classes, each group in
    ``class_groups`` (e.g. majority / minority) and per class."""
    return dict(
        _delete_=True,
        type='GroupCocoMetric',
        ann_file=data['val']['ann_file'],
        metric='bbox',
        class_groups={k: list(v) for k, v in data['class_groups'].items()},
        classwise=True,
        format_only=False)
