# Ablation (COCO split1): "random / random" sampling, GbR and GbT on:
# labeled and unlabeled images uniformly (mmdet's GroupMultiSourceSampler,
# 1 labeled : 4 unlabeled), no CrS (ClassRebalancingHook follows the
# switch and does nothing). Published (sampling table): 25.5 / 30.9
# / 9.4 AP all / maj / min.
_base_ = ('../coco-split1/'
          'cissod_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-split1.py')

model = dict(cissod_cfg=dict(crs=dict(enable=False)))
train_dataloader = dict(
    sampler=dict(
        _delete_=True,
        type='GroupMultiSourceSampler',
        batch_size=_base_.batch_size,
        source_ratio=[1, 4]))
