# Ablation (COCO split1): GbT off, GbR and CrS on. Every class keeps Soft
# Teacher's single pseudo-label threshold cls_pseudo_thr = 0.9 (CrS margins
# are then score - 0.9).
_base_ = ('../coco-split1/'
          'cissod_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-split1.py')

model = dict(cissod_cfg=dict(gbt=dict(enable=False)))
