# CISSOD on the embedded demo data (the main demo: make demo):
# Soft Teacher + gradient-based reweighting (GbR) + gradient-based
# thresholding (GbT) + class-rebalancing sampling (CrS), on the CPU.
#   python tools/train.py configs/demo/faster-rcnn_sup_demo.py   # burn-in
#   python tools/train.py configs/demo/cissod_demo.py
# Schedules are the paper's (docs/benchmark.md) scaled to the 1,000-iteration
# demo: GbR warm-up 200, SSOD warm-up 300, CrS update every 200 iterations.
_base_ = './soft_teacher_gbr_demo.py'

max_iters = _base_.max_iters
ssod_warmup_iters = 300

model = dict(
    type='CISSODSoftTeacher',
    cissod_cfg=dict(
        ssod_warmup_iters=ssod_warmup_iters,
        gbr=dict(enable=True),
        gbt=dict(enable=True, use_score_term=True, use_weight_term=True),
        crs=dict(enable=True)))

# 1 labeled : 4 unlabeled, labeled images by repeat-factor sampling (RFS),
# unlabeled images by their CrS factors.
train_dataloader = dict(
    sampler=dict(
        _delete_=True,
        type='ClassRebalancingMultiSourceSampler',
        batch_size=_base_.batch_size,
        source_ratio=[1, 4],
        labeled_rfs_threshold=0.1))

# resumes by fast-forwarding the sampler instead of re-reading every batch
train_cfg = dict(type='FastResumeIterBasedTrainLoop')

custom_hooks = [
    dict(type='MeanTeacherHook', momentum=0.002),
    dict(type='GradientBalanceHook', log_interval=50),
    dict(type='ClassRebalancingHook', interval=200, gamma=0.5),
    dict(type='PseudoLabelLoggerHook', log_interval=50),
]
