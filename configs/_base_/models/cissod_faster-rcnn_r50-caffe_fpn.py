# CISSOD = Soft Teacher + gradient-based reweighting (GbR) + gradient-based
# thresholding (GbT) + class-rebalancing sampling (CrS): the detector, its
# RoI classification loss and the four hooks, with the COCO split1/2
# settings of configs/ci-ssod/README.md. The sub-task configs in configs/ci-ssod/ add
# their dataset and schedule (iterations, labeled RFS threshold).
_base_ = './soft-teacher_faster-rcnn_r50-caffe_fpn_cissod.py'

# ---- defaults of configs/ci-ssod/README.md, column "COCO split1/2"; the COCO -> O365
# and LVIS configs override the numbers that differ ----
num_classes = 80
gbr_warmup_iters = 8000  # G-hat is an exact mean, weights stay 1
ssod_warmup_iters = 12000  # GbT thresholds and the CrS pool start here
labeled_beta = 0.5  # exponent of the class weight on labeled RoIs
crs_gamma = 0.5  # cap of the CrS lambda
crs_interval = 16000  # iterations between CrS factor updates

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
                    # RoIs, as the reference code (docs/gbr.md)
                    gamma=1.0,
                    warmup_iters=gbr_warmup_iters,
                    momentum=0.999,  # EMA of G-hat after the warm-up
                    solver=dict(type='power'),
                    weight_bounds=(1 / 3, 5.0),
                    bg_max=1.0,
                    betas=dict(labeled=labeled_beta, unlabeled=1.0))))),
    cissod_cfg=dict(
        ssod_warmup_iters=ssod_warmup_iters,
        gbr=dict(enable=True),
        gbt=dict(
            enable=True,
            # class scores from every RoI-head detection of the teacher with
            # score > 0.05, before the 0.5 candidate filter (the reference)
            score_source='detections',
            detection_score_thr=0.05,
            use_score_term=True,
            use_weight_term=True,  # COCO only; off on LVIS and COCO->O365
            unseen_classes='floor',  # undetected class: m_c = 0 -> floor
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
