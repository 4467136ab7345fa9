# Ablation (COCO split1): CrS lambda capped at gamma = 0.1 instead of 0.5
# (fewer images oversampled, and less strongly).
_base_ = ('../coco-split1/'
          'cissod_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-split1.py')

custom_hooks = [
    dict(type='MeanTeacherHook', momentum=0.001),
    dict(type='GradientBalanceHook', log_interval=50),
    dict(type='ClassRebalancingHook', interval=16000, gamma=0.1),
    dict(type='PseudoLabelLoggerHook', log_interval=50),
]
