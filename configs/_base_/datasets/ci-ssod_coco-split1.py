# CI-SSOD COCO split1 (docs/benchmark.md): minority = the 20 PASCAL VOC classes,
# majority = the other 60 COCO classes.
# Labeled = a seeded 10% sample of train2017 keeping only majority-class
# boxes + few-shot images (all boxes) until every minority class has >= 10
# boxes; unlabeled = every other train2017 image; evaluation on val2017 with
# AP over all / majority / minority classes.
#   python tools/make_splits.py coco-split1 \
#       --ann data/coco/annotations/instances_train2017.json \
#       --out-dir data/coco/annotations/ci-ssod
# writes annotations/ci-ssod/split1_labeled.json and split1_unlabeled.json
# (see docs/benchmark.md). Pipelines (sup / unsup_teacher / unsup_student
# branches, scales) are mmdet's semi_coco_detection.py.
_base_ = 'mmdet::_base_/datasets/semi_coco_detection.py'

dataset_type = 'CocoDataset'
data_root = 'data/coco/'
labeled_ann_file = 'annotations/ci-ssod/split1_labeled.json'
unlabeled_ann_file = 'annotations/ci-ssod/split1_unlabeled.json'
train_img_prefix = 'train2017/'
val_ann_file = 'annotations/instances_val2017.json'
val_img_prefix = 'val2017/'
# repeat-factor sampling threshold of the labeled images (configs/ci-ssod/README.md)
labeled_rfs_threshold = 0.1

classes = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train',
    'truck', 'boat', 'traffic light', 'fire hydrant', 'stop sign',
    'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
    'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag',
    'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite',
    'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
    'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon',
    'bowl', 'banana', 'apple', 'sandwich', 'orange', 'broccoli', 'carrot',
    'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant',
    'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote',
    'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink',
    'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear',
    'hair drier', 'toothbrush',
)
metainfo = dict(classes=classes)
# 20 minority classes
minority_classes = [
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train',
    'boat', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow', 'bottle', 'chair',
    'couch', 'potted plant', 'dining table', 'tv',
]
# 60 majority classes
majority_classes = [
    'truck', 'traffic light', 'fire hydrant', 'stop sign', 'parking meter',
    'bench', 'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella',
    'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard',
    'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard',
    'surfboard', 'tennis racket', 'wine glass', 'cup', 'fork', 'knife',
    'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange', 'broccoli',
    'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'bed', 'toilet', 'laptop',
    'mouse', 'remote', 'keyboard', 'cell phone', 'microwave', 'oven',
    'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors',
    'teddy bear', 'hair drier', 'toothbrush',
]

backend_args = None

labeled_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    metainfo=metainfo,
    ann_file=labeled_ann_file,
    data_prefix=dict(img=train_img_prefix),
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    pipeline=_base_.sup_pipeline,
    backend_args=backend_args)
unlabeled_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    metainfo=metainfo,
    ann_file=unlabeled_ann_file,
    data_prefix=dict(img=train_img_prefix),
    filter_cfg=dict(filter_empty_gt=False),
    pipeline=_base_.unsup_pipeline,
    backend_args=backend_args)

# 8 GPUs x 5 images per GPU, 1 labeled : 4 unlabeled per batch; labeled
# images by repeat-factor sampling (RFS), unlabeled images by their CrS
# factors once ClassRebalancingHook updates them (uniform until then and
# without the hook).
batch_size = 5
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=5,
    persistent_workers=True,
    sampler=dict(
        _delete_=True,
        type='ClassRebalancingMultiSourceSampler',
        batch_size=batch_size,
        source_ratio=[1, 4],
        labeled_rfs_threshold=labeled_rfs_threshold),
    dataset=dict(
        type='ConcatDataset', datasets=[labeled_dataset, unlabeled_dataset]))

val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file=val_ann_file,
        data_prefix=dict(img=val_img_prefix),
        test_mode=True,
        pipeline=_base_.test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    _delete_=True,
    type='GroupCocoMetric',
    ann_file=data_root + val_ann_file,
    metric='bbox',
    class_groups=dict(majority=majority_classes, minority=minority_classes),
    classwise=True,
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator
