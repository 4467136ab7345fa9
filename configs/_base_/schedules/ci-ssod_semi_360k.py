# Schedule of the 360k-iteration COCO -> Objects365 runs: the 180k schedule
# (ci-ssod_semi_180k.py) over 360k iterations with the reference's
# learning-rate steps (x0.1) at 280k and 320k.
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
        milestones=[280000, 320000],
        gamma=0.1)
]
