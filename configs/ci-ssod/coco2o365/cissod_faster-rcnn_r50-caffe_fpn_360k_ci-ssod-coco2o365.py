# CISSOD on CI-SSOD COCO -> Objects365 (365 classes): Soft Teacher +
# gradient-based reweighting (GbR) + gradient-based thresholding (GbT) +
# class-rebalancing sampling (CrS), with the reference settings of DESIGN.md
# §2.7 (column "COCO->O365"). 8 GPUs x 5 images (1 labeled : 4 unlabeled),
# 360k iterations. Metrics: AP / majority AP (78 classes with a COCO
# counterpart) / minority AP (287) of the teacher (and of the student).
#   tools/dist_train.sh configs/ci-ssod/coco2o365/cissod_faster-rcnn_r50-caffe_fpn_360k_ci-ssod-coco2o365.py 8
_base_ = [
    '../../_base_/models/soft-teacher_faster-rcnn_r50-caffe_fpn_cissod.py',
    '../../_base_/datasets/ci-ssod_coco2o365.py',
    '../../_base_/schedules/ci-ssod_semi_360k.py',
    '../../_base_/default_runtime.py',
]

# ---- DESIGN.md §2.7, "COCO->O365" (iterations: schedule base, labeled RFS
# threshold 0.02: dataset base) ----
num_classes = 365
gbr_warmup_iters = 12000  # G-hat is an exact mean, weights stay 1
ssod_warmup_iters = 32000  # GbT thresholds and the CrS pool start here
labeled_beta = 0.8  # exponent of the class weight on labeled RoIs
crs_gamma = 0.05  # cap of the CrS lambda
crs_interval = 36000  # iterations between CrS factor updates

model = dict(
    type='CISSODSoftTeacher',
    detector=dict(
        roi_head=dict(
            bbox_head=dict(
                num_classes=num_classes,
                loss_cls=dict(
                    _delete_=True,
                    type='GradientBalancedLoss',
                    num_classes=num_classes,
                    # softmax focal loss (gamma 1) on labeled and unlabeled
                    # RoIs, as the reference code (DESIGN.md §2.1)
                    gamma=1.0,
                    warmup_iters=gbr_warmup_iters,
                    momentum=0.999,  # EMA of G-hat after the warm-up
                    solver=dict(type='power'),
                    weight_bounds=(1 / 3, 5.0),
                    bg_max=1.0,
                    betas=dict(labeled=labeled_beta, unlabeled=1.0))))),
    cissod_cfg=dict(
        ssod_warmup_iters=ssod_warmup_iters,
        gbr=True,
        gbt=dict(
            enable=True,
            use_score_term=True,
            use_weight_term=True,
            exact_count=1000,
            momentum=0.999),
        crs=dict(enable=True)))

custom_hooks = [
    # teacher = EMA of the student with factor 0.999
    dict(type='MeanTeacherHook', momentum=0.001),
    # reduces G over the GPUs, updates G-hat, re-solves the class weights
    dict(type='GradientBalanceHook', log_interval=50),
    # pseudo-label pool -> CrS factors of the unlabeled images
    dict(type='ClassRebalancingHook', interval=crs_interval, gamma=crs_gamma),
    # per-class thresholds and pseudo-label counts
    dict(type='PseudoLabelLoggerHook', log_interval=50),
]
