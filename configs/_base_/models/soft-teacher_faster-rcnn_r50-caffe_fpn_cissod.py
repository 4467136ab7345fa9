# mmdet's Soft Teacher around the R50-caffe FPN Faster R-CNN, with the
# settings every CI-SSOD run shares (configs/ci-ssod/README.md, "Common"):
# unsup_weight 4, pseudo-label thresholds 0.9 (RPN) / 0.9 (RoI
# classification) / 0.5 (initial candidates), box-regression uncertainty
# 0.02 from 10 jittered copies (scale 0.06); the teacher is an EMA (0.999)
# of the student (MeanTeacherHook, set in the configs) and is evaluated.
# The sub-task configs set num_classes; CISSOD configs switch the type to
# CISSODSoftTeacher and the RoI classification loss to GradientBalancedLoss.
_base_ = './faster-rcnn_r50-caffe_fpn_cissod.py'

detector = _base_.model
model = dict(
    _delete_=True,
    type='SoftTeacher',
    detector=detector,
    data_preprocessor=dict(
        type='MultiBranchDataPreprocessor',
        data_preprocessor=detector.data_preprocessor),
    semi_train_cfg=dict(
        freeze_teacher=True,
        sup_weight=1.0,
        unsup_weight=4.0,
        pseudo_label_initial_score_thr=0.5,
        rpn_pseudo_thr=0.9,
        cls_pseudo_thr=0.9,
        reg_pseudo_thr=0.02,
        jitter_times=10,
        jitter_scale=0.06,
        min_pseudo_bbox_wh=(1e-2, 1e-2)),
    semi_test_cfg=dict(predict_on='teacher'))
