# Soft Teacher baseline on CI-SSOD COCO split1 (minority = the 20 VOC
# classes): mmdet's SoftTeacher unchanged (cross-entropy RoI classifier, one
# pseudo-label threshold 0.9, mmdet's GroupMultiSourceSampler: labeled and
# unlabeled images uniformly, 1 labeled : 4 unlabeled, 8 GPUs x 5 images),
# 180k iterations. Metrics: AP / majority AP / minority AP of the teacher
# (and of the student).
#   tools/dist_train.sh configs/ci-ssod/coco-split1/soft-teacher_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-split1.py 8
_base_ = [
    '../../_base_/models/soft-teacher_faster-rcnn_r50-caffe_fpn_cissod.py',
    '../../_base_/datasets/ci-ssod_coco-split1.py',
    '../../_base_/schedules/ci-ssod_semi_180k.py',
    '../../_base_/default_runtime.py',
]

num_classes = 80
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
