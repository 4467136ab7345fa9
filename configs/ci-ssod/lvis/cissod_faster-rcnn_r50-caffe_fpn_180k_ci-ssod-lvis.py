# CISSOD on CI-SSOD LVIS v1 (1203 classes): Soft Teacher + gradient-based
# reweighting (GbR) + gradient-based thresholding (GbT) + class-rebalancing
# sampling (CrS), with the reference settings of docs/benchmark.md (column "LVIS
# v1"). 8 GPUs x 5 images (1 labeled : 4 unlabeled), 180k iterations.
# Metrics: AP / APr / APc / APf of the teacher (and of the student).
#   tools/dist_train.sh configs/ci-ssod/lvis/cissod_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-lvis.py 8
_base_ = [
    '../../_base_/models/cissod_faster-rcnn_r50-caffe_fpn.py',
    '../../_base_/datasets/ci-ssod_lvis.py',
    '../../_base_/schedules/ci-ssod_semi_180k_lvis.py',
    '../../_base_/default_runtime.py',
]

# ---- configs/ci-ssod/README.md, "LVIS v1": what differs from the COCO defaults of
# the model base (iterations: schedule base, labeled RFS threshold
# 0.01: dataset base) ----
num_classes = 1203
gbr_warmup_iters = 8000  # G-hat is an exact mean, weights stay 1
ssod_warmup_iters = 16000  # GbT thresholds and the CrS pool start here
labeled_beta = 0.8  # exponent of the class weight on labeled RoIs
crs_gamma = 0.05  # cap of the CrS lambda
crs_interval = 16000  # iterations between CrS factor updates

model = dict(
    detector=dict(
        roi_head=dict(
            bbox_head=dict(
                num_classes=num_classes,
                loss_cls=dict(
                    num_classes=num_classes,
                    warmup_iters=gbr_warmup_iters,
                    betas=dict(labeled=labeled_beta)))),
        # LVIS: up to 300 detections per image with scores down to 1e-4 (as
        # mmdet's LVIS configs); the teacher's pseudo-label candidates (score
        # > 0.5) are unchanged
        test_cfg=dict(rcnn=dict(score_thr=0.0001, max_per_img=300))),
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

# LVIS v1 val has 19,809 images: evaluate every 20k iterations, not 5k
train_cfg = dict(val_interval=20000)
