# Mean teacher baseline on CI-SSOD COCO split1 (minority = the 20 VOC
# classes), the second SSOD framework (docs/frameworks.md): mmdet's
# SemiBaseDetector unchanged (hard pseudo labels, one threshold 0.7,
# unsup_weight 4: the Unbiased Teacher setting of the supplement's Table 4)
# around the Faster R-CNN R50-caffe FPN of every CI-SSOD config, with the
# data, sampler (mmdet's GroupMultiSourceSampler, 1 labeled : 4 unlabeled,
# 8 GPUs x 5 images), 180k schedule and EMA 0.999 of the Soft Teacher
# baseline. Metrics: AP / majority AP / minority AP of the teacher (and of
# the student). Supplement, Table 4 (Unbiased Teacher): 22.3 / 28.6 / 5.3.
#   tools/dist_train.sh configs/ci-ssod/coco-split1/mean-teacher_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-split1.py 8
_base_ = [
    '../../_base_/models/mean-teacher_faster-rcnn_r50-caffe_fpn_cissod.py',
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
