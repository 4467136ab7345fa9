# CISSOD on CI-SSOD COCO -> Objects365 (365 classes): Soft Teacher +
# gradient-based reweighting (GbR) + gradient-based thresholding (GbT) +
# class-rebalancing sampling (CrS), with the reference settings (docs/benchmark.md)
# (column "COCO->O365"). 8 GPUs x 5 images (1 labeled : 4 unlabeled),
# 360k iterations. Metrics: AP / majority AP (78 classes with a COCO
# counterpart) / minority AP (287) of the teacher (and of the student).
#   tools/dist_train.sh configs/ci-ssod/coco2o365/cissod_faster-rcnn_r50-caffe_fpn_360k_ci-ssod-coco2o365.py 8
_base_ = [
    '../../_base_/models/cissod_faster-rcnn_r50-caffe_fpn.py',
    '../../_base_/datasets/ci-ssod_coco2o365.py',
    '../../_base_/schedules/ci-ssod_semi_360k.py',
    '../../_base_/default_runtime.py',
]

# ---- configs/ci-ssod/README.md, "COCO->O365": what differs from the COCO defaults of
# the model base (iterations: schedule base, labeled RFS threshold
# 0.02: dataset base) ----
num_classes = 365
gbr_warmup_iters = 12000  # G-hat is an exact mean, weights stay 1
ssod_warmup_iters = 32000  # GbT thresholds and the CrS pool start here
labeled_beta = 0.8  # exponent of the class weight on labeled RoIs
crs_gamma = 0.05  # cap of the CrS lambda
crs_interval = 36000  # iterations between CrS factor updates

model = dict(
    detector=dict(
        roi_head=dict(
            bbox_head=dict(
                num_classes=num_classes,
                loss_cls=dict(
                    num_classes=num_classes,
                    warmup_iters=gbr_warmup_iters,
                    betas=dict(labeled=labeled_beta))))),
    # as the reference, GbT uses the score term alone here (the weight term
    # tau / w_c is on for COCO only)
    cissod_cfg=dict(
        ssod_warmup_iters=ssod_warmup_iters,
        gbt=dict(use_weight_term=False)))

custom_hooks = [
    dict(type='MeanTeacherHook', momentum=0.001),
    dict(type='GradientBalanceHook', log_interval=50),
    dict(type='ClassRebalancingHook', interval=crs_interval, gamma=crs_gamma),
    dict(type='PseudoLabelLoggerHook', log_interval=50),
]
