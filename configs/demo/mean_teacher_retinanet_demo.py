# The second SSOD framework on a one-stage detector, demo data, without the
# method: mmdet's mean teacher with hard pseudo labels (SemiBaseDetector,
# the Unbiased Teacher setting) around the small RetinaNet of
# _base_/models/retinanet_r18-tiny_fpn.py. Everything but the detector is
# mean_teacher_demo.py (data, 1 labeled : 4 unlabeled sampler, 1,000
# iterations, EMA, pseudo-label threshold 0.7, unsup_weight 1.0;
# tests/models/test_cissod_mean_teacher.py checks it), from the RetinaNet
# burn-in, with its optimizer (AdamW) at the learning rate it ends with
# (1e-4 = its 1e-3 after the x0.1 step, as the Faster R-CNN demo continues
# SGD at 0.002).
#   python tools/train.py configs/demo/retinanet_sup_demo.py   # burn-in
#   python tools/train.py configs/demo/mean_teacher_retinanet_demo.py
# CISSODMeanTeacher with GbR, GbT and CrS off = mmdet's SemiBaseDetector.
# docs/frameworks.md
_base_ = [
    '../_base_/models/retinanet_r18-tiny_fpn.py',
    '../_base_/datasets/demo_semi.py',
    '../_base_/schedules/demo_semi_1000it.py',
    '../_base_/default_runtime.py',
]

detector = _base_.model
model = dict(
    _delete_=True,
    type='CISSODMeanTeacher',
    detector=detector,
    data_preprocessor=dict(
        type='MultiBranchDataPreprocessor',
        data_preprocessor=detector.data_preprocessor),
    semi_train_cfg=dict(
        freeze_teacher=True,
        sup_weight=1.0,
        unsup_weight=1.0,
        cls_pseudo_thr=0.7,
        min_pseudo_bbox_wh=(1e-2, 1e-2)),
    semi_test_cfg=dict(predict_on='teacher'),
    cissod_cfg=dict(
        ssod_warmup_iters=0,
        gbr=dict(enable=False),
        gbt=dict(enable=False),
        crs=dict(enable=False)))

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=0.0001, weight_decay=0.05))

custom_hooks = [
    dict(type='MeanTeacherHook', momentum=0.002),
    dict(type='PseudoLabelLoggerHook', log_interval=50),
]
# the RetinaNet burn-in of make compare-frameworks (seed 0)
load_from = 'work_dirs/compare/seed0/supervised_retinanet/iter_600.pth'

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=_base_.max_iters,
        max_keep_ckpts=1))
randomness = dict(seed=0)
