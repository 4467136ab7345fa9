# Supervised baseline on CI-SSOD LVIS v1 (1203 classes): the labeled split
# only, labeled images by repeat-factor sampling (RFS, threshold 0.01). It is
# the labeled stream of the semi-supervised runs on its own: 8 GPUs x 1
# labeled image, the same sampler, pipeline (mmdet's Soft Teacher "sup"
# branch), schedule (180k iterations, SGD lr 0.01) and detector, so the
# difference to soft-teacher_* / cissod_* is what the unlabeled images add.
# Metrics: AP / APr / APc / APf.
#   tools/dist_train.sh configs/ci-ssod/lvis/faster-rcnn_r50-caffe_fpn_180k_ci-ssod-lvis_sup-rfs.py 8
_base_ = [
    '../../_base_/models/faster-rcnn_r50-caffe_fpn_cissod.py',
    '../../_base_/datasets/ci-ssod_lvis.py',
    '../../_base_/schedules/ci-ssod_semi_180k_lvis.py',
    '../../_base_/default_runtime.py',
]

num_classes = 1203
# LVIS: keep up to 300 detections per image with scores down to 1e-4 (as
# mmdet's LVIS configs) so that `tools/test.py --out` predictions suit LVIS'
# own evaluation too
model = dict(
    roi_head=dict(bbox_head=dict(num_classes=num_classes)),
    test_cfg=dict(rcnn=dict(score_thr=0.0001, max_per_img=300)))

# mmdet's "sup" branch pipeline without the MultiBranch wrapper
sup_train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=_base_.backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomResize', scale=_base_.scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandAugment', aug_space=_base_.color_space, aug_num=1),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='PackDetInputs'),
]
labeled_dataset = _base_.labeled_dataset
labeled_dataset.pipeline = sup_train_pipeline

batch_size = 1
train_dataloader = dict(
    _delete_=True,
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=True,
    # one source: the labeled images, drawn in proportion to their repeat
    # factors (as the labeled source of the semi-supervised runs)
    sampler=dict(
        type='ClassRebalancingMultiSourceSampler',
        batch_size=batch_size,
        source_ratio=[1],
        labeled_rfs_threshold=_base_.labeled_rfs_threshold,
        crs_source=0),
    dataset=dict(type='ConcatDataset', datasets=[labeled_dataset]))

# LVIS v1 val has 19,809 images: evaluate every 20k iterations, not 5k
train_cfg = dict(val_interval=20000)

val_cfg = dict(_delete_=True, type='ValLoop')
auto_scale_lr = dict(base_batch_size=8)
