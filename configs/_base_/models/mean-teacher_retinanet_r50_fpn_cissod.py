# mmdet's mean teacher with hard pseudo labels (SemiBaseDetector) around
# mmdet's RetinaNet R50 FPN (ImageNet-pretrained torchvision ResNet-50,
# sigmoid focal loss, test score_thr 0.05): the one-stage side of the
# second SSOD framework (docs/frameworks.md). The semi-supervised settings
# are those of mean-teacher_faster-rcnn_r50-caffe_fpn_cissod.py
# (cls_pseudo_thr 0.7, unsup_weight 4.0; the reasons are given there).
# Tests replace init_cfg by None (no download).
_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'

detector = _base_.model
model = dict(
    _delete_=True,
    type='SemiBaseDetector',
    detector=detector,
    data_preprocessor=dict(
        type='MultiBranchDataPreprocessor',
        data_preprocessor=detector.data_preprocessor),
    semi_train_cfg=dict(
        freeze_teacher=True,
        sup_weight=1.0,
        unsup_weight=4.0,
        cls_pseudo_thr=0.7,
        min_pseudo_bbox_wh=(1e-2, 1e-2)),
    semi_test_cfg=dict(predict_on='teacher'))
