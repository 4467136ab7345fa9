# GbR as a long-tail loss in a plain supervised ATSS: only loss_cls and
# the hook differ from mmdet's atss_r50_fpn_1x_coco.py (the sigmoid
# GbR loss and its settings: ../_base_/models/gbr_focal_loss_coco.py).
_base_ = [
    'mmdet::atss/atss_r50_fpn_1x_coco.py',
    '../_base_/models/gbr_focal_loss_coco.py',
]

model = dict(bbox_head=dict(loss_cls=_base_.gbr_focal_loss))
