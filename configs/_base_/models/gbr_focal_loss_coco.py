# GbR as a long-tail loss for a dense head with a sigmoid focal
# classification loss (RetinaNet, FCOS, ATSS), COCO: the loss_cls that
# replaces mmdet's FocalLoss, and the hook that steps the balancer. A config
# lists this file after mmdet's detector config in `_base_` and sets
#   model = dict(bbox_head=dict(loss_cls=_base_.gbr_focal_loss))
# The focal loss keeps mmdet's gamma / alpha; every sample's loss (all its
# class logits) is weighted by the class weight of its label, background
# samples by the background weight (docs/gbr.md, "Sigmoid classifiers").
# The direct solver solves the balance equations exactly (LU, ~1 ms at 80
# classes) and stays bounded when they have no positive solution. Outside a
# semi-supervised detector every call is the "labeled" branch (beta = 0.5).
custom_imports = dict(imports=['cissod'], allow_failed_imports=False)

gbr_focal_loss = dict(
    _delete_=True,
    type='GradientBalancedFocalLoss',
    num_classes=80,
    use_sigmoid=True,
    gamma=2.0,
    alpha=0.25,
    loss_weight=1.0,
    warmup_iters=8000,
    solver=dict(type='direct'),
    betas=dict(labeled=0.5, unlabeled=1.0))

custom_hooks = [dict(type='GradientBalanceHook')]
