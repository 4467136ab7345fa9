# CISSOD on CI-SSOD COCO split1 (minority = the 20 VOC classes): Soft Teacher
# + gradient-based reweighting (GbR) + gradient-based thresholding (GbT) +
# class-rebalancing sampling (CrS), with the reference settings (docs/benchmark.md)
# (column "COCO split1/2"). 8 GPUs x 5 images (1 labeled : 4 unlabeled),
# 180k iterations. Metrics: AP / majority AP / minority AP of the teacher
# (and of the student).
#   tools/dist_train.sh configs/ci-ssod/coco-split1/cissod_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-split1.py 8
_base_ = [
    '../../_base_/models/cissod_faster-rcnn_r50-caffe_fpn.py',
    '../../_base_/datasets/ci-ssod_coco-split1.py',
    '../../_base_/schedules/ci-ssod_semi_180k.py',
    '../../_base_/default_runtime.py',
]
# configs/ci-ssod/README.md "COCO split1/2" settings: the model base file.
