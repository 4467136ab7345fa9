# Soft Teacher baseline on CI-SSOD LVIS v1 (1203 classes): mmdet's
# SoftTeacher unchanged (cross-entropy RoI classifier, one pseudo-label
# threshold 0.9, mmdet's GroupMultiSourceSampler: labeled and unlabeled
# images uniformly, 1 labeled : 4 unlabeled, 8 GPUs x 5 images), 180k
# iterations. Metrics: AP / APr / APc / APf of the teacher (and of the
# student).
#   tools/dist_train.sh configs/ci-ssod/lvis/soft-teacher_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-lvis.py 8
_base_ = [
    '../../_base_/models/soft-teacher_faster-rcnn_r50-caffe_fpn_cissod.py',
    '../../_base_/datasets/ci-ssod_lvis.py',
    '../../_base_/schedules/ci-ssod_semi_180k_lvis.py',
    '../../_base_/default_runtime.py',
]

num_classes = 1203
# LVIS: keep up to 300 detections per image with scores down to 1e-4 (as
# mmdet's LVIS configs) so that `tools/test.py --out` predictions suit LVIS'
# own evaluation too; the teacher's pseudo-label candidates (score > 0.5) are
# unchanged
model = dict(
    detector=dict(
        roi_head=dict(bbox_head=dict(num_classes=num_classes)),
        test_cfg=dict(rcnn=dict(score_thr=0.0001, max_per_img=300))))

train_dataloader = dict(
    sampler=dict(
        _delete_=True,
        type='GroupMultiSourceSampler',
        batch_size=_base_.batch_size,
        source_ratio=[1, 4]))

# LVIS v1 val has 19,809 images: evaluate every 20k iterations, not 5k
train_cfg = dict(val_interval=20000)

# teacher = EMA of the student with factor 0.999
custom_hooks = [dict(type='MeanTeacherHook', momentum=0.001)]
