# mmdet's stock Soft Teacher config with GbR: the detector type, the RoI
# classification loss and GradientBalanceHook are changed. GbRSoftTeacher is
# SoftTeacher whose labeled and unlabeled RoI-classification losses each
# record the gradient matrix once per iteration (unlabeled scaled by
# unsup_weight) and whose regression-only pass records nothing.
_base_ = ('mmdet::soft_teacher/'
          'soft-teacher_faster-rcnn_r50-caffe_fpn_180k_semi-0.1-coco.py')
custom_imports = dict(imports=['cissod'], allow_failed_imports=False)

model = dict(
    type='GbRSoftTeacher',
    detector=dict(
        roi_head=dict(
            bbox_head=dict(
                loss_cls=dict(
                    _delete_=True,
                    type='GradientBalancedLoss',
                    num_classes=80,
                    warmup_iters=8000,
                    solver=dict(type='power'),
                    betas=dict(labeled=0.5, unlabeled=1.0))))))

custom_hooks = [
    dict(type='MeanTeacherHook'),
    dict(type='GradientBalanceHook'),
]
