# Schedule of the 360k-iteration COCO -> Objects365 runs: the 180k schedule
# (ci-ssod_semi_180k.py) stretched to 360k iterations, learning-rate steps
# at the same fractions (2/3 and 8/9). The reference's step positions for
# this sub-task are not in DESIGN.md; this is our choice.
_base_ = './ci-ssod_semi_180k.py'

max_iters = 360000
train_cfg = dict(max_iters=max_iters, val_interval=60000)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[240000, 320000],
        gamma=0.1)
]
