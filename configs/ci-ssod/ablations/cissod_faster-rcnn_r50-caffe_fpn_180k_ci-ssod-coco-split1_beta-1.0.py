# Ablation (COCO split1): beta 1.0 on labeled RoIs (the full GbR weight)
# instead of 0.5. Published: 25.8 / 29.3 / 15.4 AP all / maj / min.
_base_ = ('../coco-split1/'
          'cissod_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-split1.py')

model = dict(
    detector=dict(
        roi_head=dict(
            bbox_head=dict(loss_cls=dict(betas=dict(labeled=1.0))))))
