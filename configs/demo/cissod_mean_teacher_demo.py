# CISSOD on the second SSOD framework (docs/frameworks.md), demo data:
# mean_teacher_demo.py (mmdet's mean teacher, hard pseudo labels, two-stage
# Faster R-CNN) + gradient-based reweighting (GbR) + gradient-based
# thresholding (GbT) + class-rebalancing sampling (CrS), with the settings
# of cissod_demo.py (GbR warm-up 200, SSOD warm-up 300, CrS update every
# 200 iterations, same RoI classification loss and sampler). GbT: the pseudo
# boxes of class c reach the unsupervised loss (RPN, RoI cls and RoI reg
# alike) when score > theta_c, theta_c in [0.5, 0.7] (tau = cls_pseudo_thr).
#   python tools/train.py configs/demo/faster-rcnn_sup_demo.py   # burn-in
#   python tools/train.py configs/demo/cissod_mean_teacher_demo.py
_base_ = './mean_teacher_demo.py'

num_classes = 8
gbr_warmup_iters = 200
ssod_warmup_iters = 300

model = dict(
    detector=dict(
        roi_head=dict(
            bbox_head=dict(
                loss_cls=dict(
                    _delete_=True,
                    type='GradientBalancedLoss',
                    num_classes=num_classes,
                    warmup_iters=gbr_warmup_iters,
                    momentum=0.99,
                    solver=dict(type='power'),
                    weight_bounds=(1 / 3, 5.0),
                    bg_max=1.0,
                    betas=dict(labeled=0.5, unlabeled=1.0))))),
    cissod_cfg=dict(
        ssod_warmup_iters=ssod_warmup_iters,
        gbr=dict(enable=True),
        # tau_min: the reference's lower bound 0.5 (SemiBaseDetector has no
        # pseudo_label_initial_score_thr to take it from)
        gbt=dict(enable=True, use_score_term=True, use_weight_term=True,
                 tau_min=0.5),
        crs=dict(enable=True)))

# 1 labeled : 4 unlabeled, labeled images by repeat-factor sampling (RFS),
# unlabeled images by their CrS factors (as cissod_demo.py)
train_dataloader = dict(
    sampler=dict(
        _delete_=True,
        type='ClassRebalancingMultiSourceSampler',
        batch_size=_base_.batch_size,
        source_ratio=[1, 4],
        labeled_rfs_threshold=0.1))

train_cfg = dict(type='FastResumeIterBasedTrainLoop')

custom_hooks = [
    dict(type='MeanTeacherHook', momentum=0.002),
    dict(type='GradientBalanceHook', log_interval=50),
    dict(type='ClassRebalancingHook', interval=200, gamma=0.5),
    dict(type='PseudoLabelLoggerHook', log_interval=50),
]
