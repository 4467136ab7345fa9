# Semi-supervised stage of the CPU demo: 1,000 iterations that continue the
# supervised burn-in at the learning rate it ended with (0.002 = 0.02 after
# its x0.1 step), constant, instead of restarting at the paper's 0.01: on
# this small model a restart at 0.01 with one labeled image per batch undoes
# more of the burn-in than the unlabeled images add (measured: both
# semi-supervised runs ended below the burn-in). The teacher and student are
# both evaluated at the end.
max_iters = 1000
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='TeacherStudentValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=50),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.002, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=20, norm_type=2))
