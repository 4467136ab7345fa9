# CISSOD on the second SSOD framework (docs/frameworks.md), CI-SSOD COCO
# split1: the mean teacher with hard pseudo labels of
# mean-teacher_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-split1.py
# (Unbiased Teacher setting: threshold 0.7, unsup_weight 4) + GbR + GbT +
# CrS with every setting of cissod_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-
# coco-split1.py (GbR loss and warm-up, SSOD warm-up 12k, CrS every 16k,
# gamma 0.5, sampler, hooks): only the framework differs. GbT: the pseudo
# boxes of class c reach the unsupervised loss (RPN, RoI cls and RoI reg
# alike) when score > theta_c, theta_c in [0.5, 0.7] (tau = cls_pseudo_thr;
# tau_min 0.5 as the reference's). Supplement, Table 4 (Unbiased Teacher +
# the method): 24.7 / 28.5 / 13.2 AP all / majority / minority.
#   tools/dist_train.sh configs/ci-ssod/coco-split1/cissod-mean-teacher_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-split1.py 8
_base_ = './cissod_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-split1.py'

model = dict(
    type='CISSODMeanTeacher',
    # mean-teacher_faster-rcnn_r50-caffe_fpn_cissod.py's (Unbiased Teacher)
    semi_train_cfg=dict(
        _delete_=True,
        freeze_teacher=True,
        sup_weight=1.0,
        unsup_weight=4.0,
        cls_pseudo_thr=0.7,
        min_pseudo_bbox_wh=(1e-2, 1e-2)),
    cissod_cfg=dict(gbt=dict(tau_min=0.5)))
