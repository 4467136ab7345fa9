# CISSOD on the second SSOD framework with a one-stage detector, CI-SSOD
# COCO split1 (docs/frameworks.md): mean-teacher_retinanet_r50_fpn_180k_
# ci-ssod-coco-split1.py + GbR + GbT + CrS with the settings of the Faster
# R-CNN CISSOD configs (cissod_cfg of
# _base_/models/cissod_faster-rcnn_r50-caffe_fpn.py: SSOD warm-up 12k, GbT
# from every teacher detection with score > 0.05, CrS every 16k iterations,
# gamma 0.5, CrS sampler with labeled RFS 0.1; tau_min 0.5). GbT: the pseudo
# boxes of class c reach the unsupervised loss (focal classification and
# box regression alike) when score > theta_c, theta_c in [0.5, 0.7].
# GbR: GradientBalancedFocalLoss (the sigmoid GbR loss, docs/gbr.md
# "Sigmoid classifiers") in place of RetinaNet's FocalLoss, same gamma 2 /
# alpha 0.25, with the GbR settings of the Faster R-CNN CISSOD configs
# (warm-up 8k, momentum 0.999, weights in [1/3, 5], background <= 1, betas
# 0.5 / 1.0) and the `direct` solver of the sigmoid configs (configs/gbr/).
#   tools/dist_train.sh configs/ci-ssod/coco-split1/cissod-mean-teacher_retinanet_r50_fpn_180k_ci-ssod-coco-split1.py 8
_base_ = './mean-teacher_retinanet_r50_fpn_180k_ci-ssod-coco-split1.py'

num_classes = 80
gbr_warmup_iters = 8000  # G-hat is an exact mean, weights stay 1
ssod_warmup_iters = 12000  # GbT thresholds and the CrS pool start here
labeled_beta = 0.5  # exponent of the class weight on labeled samples
crs_gamma = 0.5  # cap of the CrS lambda
crs_interval = 16000  # iterations between CrS factor updates

model = dict(
    type='CISSODMeanTeacher',
    detector=dict(
        bbox_head=dict(
            loss_cls=dict(
                _delete_=True,
                type='GradientBalancedFocalLoss',
                num_classes=num_classes,
                use_sigmoid=True,
                gamma=2.0,
                alpha=0.25,
                loss_weight=1.0,
                warmup_iters=gbr_warmup_iters,
                momentum=0.999,  # EMA of G-hat after the warm-up
                solver=dict(type='direct'),
                weight_bounds=(1 / 3, 5.0),
                bg_max=1.0,
                betas=dict(labeled=labeled_beta, unlabeled=1.0)))),
    cissod_cfg=dict(
        ssod_warmup_iters=ssod_warmup_iters,
        gbr=dict(enable=True),
        gbt=dict(
            enable=True,
            score_source='detections',
            detection_score_thr=0.05,
            use_score_term=True,
            use_weight_term=True,
            unseen_classes='floor',
            exact_count=1000,
            momentum=0.999,
            tau_min=0.5),
        crs=dict(enable=True)))

# 1 labeled : 4 unlabeled, labeled images by repeat-factor sampling, the
# unlabeled ones by their CrS factors (the dataset base's sampler)
train_dataloader = dict(
    sampler=dict(
        _delete_=True,
        type='ClassRebalancingMultiSourceSampler',
        batch_size=_base_.batch_size,
        source_ratio=[1, 4],
        labeled_rfs_threshold=_base_.labeled_rfs_threshold))

custom_hooks = [
    # teacher = EMA of the student with factor 0.999
    dict(type='MeanTeacherHook', momentum=0.001),
    # reduces G over the GPUs, updates G-hat, re-solves the class weights
    dict(type='GradientBalanceHook', log_interval=50),
    # pseudo-label pool -> CrS factors of the unlabeled images
    dict(type='ClassRebalancingHook', interval=crs_interval, gamma=crs_gamma),
    # per-class thresholds and pseudo-label counts
    dict(type='PseudoLabelLoggerHook', log_interval=50),
]
