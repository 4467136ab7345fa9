# GbR as a long-tail loss in a plain supervised Faster R-CNN: only loss_cls
# and the hook differ from mmdet's faster-rcnn_r50_fpn_1x_coco.py. Outside a
# semi-supervised detector every RoI-classification loss is the "labeled"
# branch (beta = 0.5).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['cissod'], allow_failed_imports=False)

model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                _delete_=True,
                type='GradientBalancedLoss',
                num_classes=80,
                warmup_iters=8000,
                solver=dict(type='power'),
                betas=dict(labeled=0.5, unlabeled=1.0)))))

custom_hooks = [dict(type='GradientBalanceHook')]
