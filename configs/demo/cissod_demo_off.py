# The Soft Teacher baseline of the demo comparison (make compare):
# CISSODSoftTeacher with GbR, GbT and CrS all switched off computes exactly
# what mmdet's SoftTeacher computes (tests/models/test_cissod_soft_teacher.py); it
# only adds the per-class pseudo-label counts (PseudoLabelLoggerHook and the
# `pseudo_label_counts` buffer in the checkpoint) so that both runs of the
# comparison report them. Same data, seed, burn-in and iteration budget as
# cissod_demo.py.
_base_ = './soft_teacher_demo.py'

model = dict(
    type='CISSODSoftTeacher',
    cissod_cfg=dict(
        ssod_warmup_iters=0,
        gbr=dict(enable=False),
        gbt=dict(enable=False),
        crs=dict(enable=False)))

custom_hooks = [
    dict(type='MeanTeacherHook', momentum=0.002),
    dict(type='PseudoLabelLoggerHook', log_interval=50),
]
