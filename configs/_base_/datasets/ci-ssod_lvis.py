# CI-SSOD LVIS v1 (docs/benchmark.md): labeled = about 10% of the LVIS v1 train
# images (9,946) with all their boxes; unlabeled = the rest; evaluation on
# LVIS v1 val with AP and APr / APc / APf under LVIS' official federated
# evaluation (GroupCocoMetric(federated=True) on faster-coco-eval: per image
# only the categories annotated or in neg_category_ids count, unmatched
# detections of not_exhaustive_category_ids are ignored, 300 detections per
# image; r / c / f from the `frequency` of every category of
# lvis_v1_val.json). tools/test.py --minority / --class-groups adds AP over
# class groups under the same rules, from the same evaluation pass.
#   python tools/make_splits.py lvis \
#       --ann data/lvis/annotations/lvis_v1_train.json \
#       --out-dir data/lvis/annotations
# writes lvis_v1_train_labeled.json / lvis_v1_train_unlabeled.json
# (docs/benchmark.md). LVISV1Dataset (mmdet) takes the 1203 classes from its
# METAINFO and the image path from each image's coco_url
# ('http://images.cocodataset.org/train2017/x.jpg' -> 'train2017/x.jpg'), so
# data/lvis/ holds train2017/ and val2017/ (symlinks to the COCO images).
_base_ = 'mmdet::_base_/datasets/semi_coco_detection.py'

dataset_type = 'LVISV1Dataset'
data_root = 'data/lvis/'
labeled_ann_file = 'annotations/lvis_v1_train_labeled.json'
unlabeled_ann_file = 'annotations/lvis_v1_train_unlabeled.json'
train_img_prefix = ''
val_ann_file = 'annotations/lvis_v1_val.json'
val_img_prefix = ''
# repeat-factor sampling threshold of the labeled images (configs/ci-ssod/README.md)
labeled_rfs_threshold = 0.01
metainfo = None  # the dataset class's 1203 classes

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

# r / c / f groups come from the annotation file; 1203 classes: no per-class
# table in the log. federated=True needs backend='faster_coco_eval' (the lvis
# package 0.5.3 does not run on numpy >= 1.24); the models keep 300
# detections per image (test_cfg.rcnn.max_per_img), the protocol's limit.
val_evaluator = dict(
    _delete_=True,
    type='GroupCocoMetric',
    ann_file=data_root + val_ann_file,
    metric='bbox',
    backend='faster_coco_eval',
    federated=True,
    max_dets_per_image=300,
    classwise=False,
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator
