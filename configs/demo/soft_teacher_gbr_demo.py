# Soft Teacher + gradient-based reweighting (GbR) on the demo data.
# Differs from soft_teacher_demo.py only by the detector type (GbRSoftTeacher:
# SoftTeacher whose losses record into the GbR branches), the RoI
# classification loss and GradientBalanceHook (warm-up scaled to the
# 1,000-iteration demo).
_base_ = './soft_teacher_demo.py'

num_classes = 8
gbr_warmup_iters = 200

model = dict(
    type='GbRSoftTeacher',
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
                    betas=dict(labeled=0.5, unlabeled=1.0))))))

custom_hooks = [
    dict(type='MeanTeacherHook', momentum=0.002),
    dict(type='GradientBalanceHook', log_interval=50),
]
