# Ablation (COCO split1): the paper's learnable "Jacobi iterate module"
# (w = C softmax(a), a trained by the detector's SGD through the extra
# loss_gbr_solver) instead of the power solver. a must have no weight decay
# (decay would pull the weights towards 1), see GradientBalancedLoss.
_base_ = ('../coco-split1/'
          'cissod_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-split1.py')

model = dict(
    detector=dict(
        roi_head=dict(
            bbox_head=dict(
                loss_cls=dict(solver=dict(_delete_=True, type='jacobi'))))))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'balancer.solver.a': dict(decay_mult=0.)}))
