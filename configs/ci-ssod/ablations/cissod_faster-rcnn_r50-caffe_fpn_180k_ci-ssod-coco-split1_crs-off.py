# Ablation (COCO split1): CrS off, GbR and GbT on = "RFS / random" sampling:
# labeled images by repeat-factor sampling (threshold 0.1), unlabeled images
# uniformly (one switch: ClassRebalancingHook follows it and does nothing).
# Published (sampling table): 25.8 / 30.9 / 10.5 AP all / maj /
# min.
_base_ = ('../coco-split1/'
          'cissod_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-split1.py')

model = dict(cissod_cfg=dict(crs=dict(enable=False)))
