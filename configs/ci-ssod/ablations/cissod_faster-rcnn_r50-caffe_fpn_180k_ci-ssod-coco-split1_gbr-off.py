# Ablation (COCO split1): GbR off, GbT and CrS on. The RoI classifier keeps
# the same softmax focal loss (gamma 1) but every class weight stays 1
# (cissod_cfg.gbr.enable=False), so only the reweighting is removed;
# GradientBalanceHook still logs how unbalanced the gradients are
# (gbr/balance_residual). Without weights GbT uses its score term only.
_base_ = ('../coco-split1/'
          'cissod_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-split1.py')

model = dict(
    cissod_cfg=dict(
        gbr=dict(enable=False), gbt=dict(use_weight_term=False)))
