# Ablation (COCO split1): exponent beta of the GbR class weight on labeled
# RoIs 0.3 instead of 0.5 (unlabeled RoIs keep beta 1).
_base_ = ('../coco-split1/'
          'cissod_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-split1.py')

model = dict(
    detector=dict(
        roi_head=dict(
            bbox_head=dict(loss_cls=dict(betas=dict(labeled=0.3))))))
