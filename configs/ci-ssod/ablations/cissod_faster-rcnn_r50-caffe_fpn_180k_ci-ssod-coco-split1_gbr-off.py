# Ablation (COCO split1): GbR off, GbT and CrS on. The RoI classifier keeps
# the same softmax focal loss (gamma 1) but every class weight is fixed at 1
# (weight bounds [1, 1]), so only the reweighting is removed;
# GradientBalanceHook still logs how unbalanced the gradients are
# (gbr/balance_residual). Without weights GbT uses its score term only.
_base_ = ('../coco-split1/'
          'cissod_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-split1.py')

model = dict(
    detector=dict(
        roi_head=dict(
            bbox_head=dict(loss_cls=dict(weight_bounds=(1.0, 1.0))))),
    cissod_cfg=dict(gbt=dict(use_weight_term=False)))
