# CISSOD on the second SSOD framework with a one-stage detector, demo data:
# mean_teacher_retinanet_demo.py + GbR + GbT + CrS with the settings of
# cissod_mean_teacher_demo.py (SSOD warm-up 300, CrS update every 200
# iterations, theta_c in [0.5, 0.7]). GbT: the pseudo boxes of
# class c reach the unsupervised loss (focal classification and box
# regression alike) when score > theta_c.
#   python tools/train.py configs/demo/retinanet_sup_demo.py   # burn-in
#   python tools/train.py configs/demo/cissod_mean_teacher_retinanet_demo.py
# GbR: GradientBalancedFocalLoss (the sigmoid GbR loss, docs/gbr.md
# "Sigmoid classifiers") in place of the dense head's FocalLoss, same gamma /
# alpha, with the GbR settings of cissod_mean_teacher_demo.py (warm-up 200,
# momentum 0.99, weights in [1/3, 5], background <= 1, betas 0.5 / 1.0) and
# the `direct` solver of the sigmoid configs (configs/gbr/).
_base_ = './mean_teacher_retinanet_demo.py'

num_classes = 8
gbr_warmup_iters = 200
ssod_warmup_iters = 300

model = dict(
    detector=dict(
        bbox_head=dict(
            loss_cls=dict(
                _delete_=True,
                type='GradientBalancedFocalLoss',
                num_classes=num_classes,
                use_sigmoid=True,
                gamma=2.0,
                alpha=0.25,
                loss_weight=1.0,
                warmup_iters=gbr_warmup_iters,
                momentum=0.99,
                solver=dict(type='direct'),
                weight_bounds=(1 / 3, 5.0),
                bg_max=1.0,
                betas=dict(labeled=0.5, unlabeled=1.0)))),
    cissod_cfg=dict(
        ssod_warmup_iters=ssod_warmup_iters,
        gbr=dict(enable=True),
        gbt=dict(enable=True, use_score_term=True, use_weight_term=True,
                 tau_min=0.5),
        crs=dict(enable=True)))

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
