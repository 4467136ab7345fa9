# mmdet's SoftTeacher on the embedded demo data, on the CPU.
#   make demo, or:
#   python tools/train.py configs/demo/faster-rcnn_sup_demo.py   # burn-in
#   python tools/train.py configs/demo/soft_teacher_demo.py
# It starts from the supervised burn-in checkpoint (load_from below): trained
# from scratch with 1 labeled image per batch, the RoI classifier of this
# small CPU model stays at the background prior for the whole CPU budget
# (measured: AP 0.0 after 700 iterations). The teacher is evaluated on
# data/demo val with AP over all / majority / minority classes.
_base_ = [
    '../_base_/models/faster-rcnn_r18-tiny_fpn.py',
    '../_base_/datasets/demo_semi.py',
    '../_base_/schedules/demo_semi_1000it.py',
    '../_base_/default_runtime.py',
]

detector = _base_.model
model = dict(
    _delete_=True,
    type='SoftTeacher',
    detector=detector,
    data_preprocessor=dict(
        type='MultiBranchDataPreprocessor',
        data_preprocessor=detector.data_preprocessor),
    semi_train_cfg=dict(
        freeze_teacher=True,
        sup_weight=1.0,
        # 4.0 in the paper (pretrained R50, 8 GPUs); on the demo it drives
        # the classifier back to the background prior within ~150 iterations
        unsup_weight=1.0,
        pseudo_label_initial_score_thr=0.5,
        rpn_pseudo_thr=0.9,
        cls_pseudo_thr=0.9,
        reg_pseudo_thr=0.02,
        jitter_times=10,
        jitter_scale=0.06,
        min_pseudo_bbox_wh=(1e-2, 1e-2)),
    semi_test_cfg=dict(predict_on='teacher'))

# A 1,000-iteration run needs a faster teacher than the paper's 0.999 EMA.
custom_hooks = [dict(type='MeanTeacherHook', momentum=0.002)]
# the burn-in of make demo / make compare (seed 0)
load_from = 'work_dirs/compare/seed0/supervised/iter_600.pth'

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=_base_.max_iters,
        max_keep_ckpts=1))
randomness = dict(seed=0)
