# Schedule of the 180k-iteration LVIS v1 runs: the COCO schedule
# (ci-ssod_semi_180k.py) with the reference's learning-rate steps (x0.1) at
# 140k and 160k.
_base_ = './ci-ssod_semi_180k.py'

param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=_base_.max_iters,
        by_epoch=False,
        milestones=[140000, 160000],
        gamma=0.1)
]
