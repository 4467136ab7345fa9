# Soft Teacher baseline on CI-SSOD COCO -> Objects365 (365 classes): mmdet's
# SoftTeacher unchanged (cross-entropy RoI classifier, one pseudo-label
# threshold 0.9, mmdet's GroupMultiSourceSampler: labeled and unlabeled
# images uniformly, 1 labeled : 4 unlabeled, 8 GPUs x 5 images), 360k
# iterations. Metrics: AP / majority AP (78 classes with a COCO counterpart)
# / minority AP (287) of the teacher (and of the student).
#   tools/dist_train.sh configs/ci-ssod/coco2o365/soft-teacher_faster-rcnn_r50-caffe_fpn_360k_ci-ssod-coco2o365.py 8
_base_ = [
    '../../_base_/models/soft-teacher_faster-rcnn_r50-caffe_fpn_cissod.py',
    '../../_base_/datasets/ci-ssod_coco2o365.py',
    '../../_base_/schedules/ci-ssod_semi_360k.py',
    '../../_base_/default_runtime.py',
]

num_classes = 365
model = dict(
    detector=dict(roi_head=dict(bbox_head=dict(num_classes=num_classes))))

train_dataloader = dict(
    sampler=dict(
        _delete_=True,
        type='GroupMultiSourceSampler',
        batch_size=_base_.batch_size,
        source_ratio=[1, 4]))

# teacher = EMA of the student with factor 0.999
custom_hooks = [dict(type='MeanTeacherHook', momentum=0.001)]
