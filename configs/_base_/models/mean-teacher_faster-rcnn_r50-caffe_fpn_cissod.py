# mmdet's mean teacher with hard pseudo labels (SemiBaseDetector: the EMA
# teacher's detections above one score threshold are the student's boxes
# for its whole unsupervised loss) around the R50-caffe FPN Faster R-CNN of
# every CI-SSOD config: the Unbiased Teacher setting of the supplement's
# Table 4 (docs/frameworks.md). Unbiased Teacher's hyper-parameters where
# they apply:
# * cls_pseudo_thr 0.7 (Unbiased Teacher's BBOX_THRESHOLD), one threshold
#   for every class; with CISSOD's GbT it is tau, the upper bound of the
#   class thresholds;
# * unsup_weight 4.0: Unbiased Teacher's unsupervised loss weight on COCO,
#   and the one of our Soft Teacher / CISSOD configs, so the frameworks
#   compare at the same weight.
# Kept from our Soft Teacher configs rather than Unbiased Teacher's code
# (so that only the framework differs): the detector, data, 1 labeled : 4
# unlabeled sampling, 180k schedule (SGD lr 0.01) and EMA 0.999 (set in the
# configs). Unbiased Teacher additionally drops the unsupervised
# box-regression losses and uses a focal RoI loss; SemiBaseDetector keeps
# every loss term (CISSOD's GradientBalancedLoss is a softmax focal loss).
_base_ = './faster-rcnn_r50-caffe_fpn_cissod.py'

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
