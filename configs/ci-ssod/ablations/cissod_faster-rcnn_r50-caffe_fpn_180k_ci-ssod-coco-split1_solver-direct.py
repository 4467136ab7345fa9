# Ablation (COCO split1): GbR class weights from the direct (least-squares)
# solve of the balance equations, clamped to the weight bounds, instead of
# the power solver. The supplement reports the same AP as the paper's
# Jacobi module on this split (26.5).
_base_ = ('../coco-split1/'
          'cissod_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-split1.py')

model = dict(
    detector=dict(
        roi_head=dict(
            bbox_head=dict(
                loss_cls=dict(solver=dict(_delete_=True, type='direct'))))))
