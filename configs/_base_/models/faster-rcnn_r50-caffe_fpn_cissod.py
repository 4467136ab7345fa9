# The detector of every CI-SSOD benchmark config: Faster R-CNN, ResNet-50
# (caffe style, ImageNet-pretrained detectron2 weights) + FPN, exactly as
# mmdet's Soft Teacher configs build it (mmdet::soft_teacher/
# soft-teacher_faster-rcnn_r50-caffe_fpn_180k_semi-0.1-coco.py).
# num_classes is set by each sub-task config (80 COCO, 365 Objects365,
# 1203 LVIS v1). Tests replace init_cfg by None (no download).
_base_ = 'mmdet::_base_/models/faster-rcnn_r50_fpn.py'

model = dict(
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[103.530, 116.280, 123.675],
        std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False,
        pad_size_divisor=32),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='caffe',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='open-mmlab://detectron2/resnet50_caffe')),
    roi_head=dict(bbox_head=dict(num_classes=80)))
