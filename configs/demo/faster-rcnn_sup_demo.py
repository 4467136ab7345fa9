# Supervised baseline on the demo data: the labeled split only (majority-only
# 5% + few-shot minority images), same small Faster R-CNN. Its checkpoint is
# also the burn-in that soft_teacher_demo.py starts from (load_from).
_base_ = [
    '../_base_/models/faster-rcnn_r18-tiny_fpn.py',
    '../_base_/datasets/demo_semi.py',
    '../_base_/schedules/demo_sup_600it.py',
    '../_base_/default_runtime.py',
]

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomResize', scale=_base_.scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    _delete_=True,
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=_base_.dataset_type,
        data_root=_base_.data_root,
        metainfo=_base_.metainfo,
        ann_file='annotations/train_labeled.json',
        data_prefix=dict(img='images/train/'),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline))

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=_base_.max_iters,
        max_keep_ckpts=1))
randomness = dict(seed=0)
