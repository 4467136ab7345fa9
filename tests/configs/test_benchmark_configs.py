"""The full-scale CI-SSOD benchmark configs (configs/ci-ssod/, configs/gbr/).

Without COCO / Objects365 / LVIS and GPUs, what can be checked here is that

* every config carries the numbers of docs/benchmark.md and the class groups of
  docs/benchmark.md (read from the loaded config, compared with the tables
  below), and every ablation differs from the COCO split1 CISSOD config in
  exactly the keys it is about;
* every config builds its datasets (with the config's own dataset types:
  CocoDataset, Objects365V2Dataset, LVISV1Dataset), sampler, evaluator and
  hooks when pointed at the small demo fixture (8 classes, 128 px images);
* the supervised, Soft Teacher and CISSOD config of every sub-task train
  for 2 iterations on the CPU and are evaluated (GroupCocoMetric with their
  class groups) with the rest of the config unchanged (R50-caffe FPN
  without pretrained weights, pipelines at a smaller scale, sampler, loop,
  hooks), the warm-ups scaled down so that GbR, GbT and CrS all act.

tests/test_configs.py builds every model; it is not repeated here.
"""
import copy
import functools
import glob
import json
import math
import os
import os.path as osp
from typing import Any, Dict, Iterator, List

import pytest
from conftest import REPO
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope

CONFIG_DIR = osp.join(REPO, 'configs')
BENCH_CONFIGS = sorted(
    osp.relpath(p, REPO)
    for p in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
    if '/_base_/' not in p and '/demo/' not in p)
CI_SSOD_DIR = 'configs/ci-ssod'
SUBTASKS = ('coco-split1', 'coco-split2', 'coco2o365', 'lvis')


def ci_ssod_config(kind: str, subtask: str) -> str:
    """Path of the ``sup`` / ``soft-teacher`` / ``cissod`` config."""
    iters = '360k' if subtask == 'coco2o365' else '180k'
    tag = f'r50-caffe_fpn_{iters}_ci-ssod-{subtask}'
    name = {
        'sup': f'faster-rcnn_{tag}_sup-rfs.py',
        'soft-teacher': f'soft-teacher_faster-rcnn_{tag}.py',
        'cissod': f'cissod_faster-rcnn_{tag}.py',
    }[kind]
    return f'{CI_SSOD_DIR}/{subtask}/{name}'


SPLIT1_CISSOD = ci_ssod_config('cissod', 'coco-split1')
ABLATION_PREFIX = (f'{CI_SSOD_DIR}/ablations/'
                   'cissod_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-split1')

# --------------------------------------------------------------------------
# docs/benchmark.md, one row per sub-task:
# (iterations, GbR warm-up, SSOD warm-up, beta labeled, gamma, CrS interval,
#  labeled RFS threshold, num_classes)
REFERENCE_DEFAULTS = {
    'coco-split1': (180000, 8000, 12000, 0.5, 0.5, 16000, 0.1, 80),
    'coco-split2': (180000, 8000, 12000, 0.5, 0.5, 16000, 0.1, 80),
    'coco2o365': (360000, 12000, 32000, 0.8, 0.05, 36000, 0.02, 365),
    'lvis': (180000, 8000, 16000, 0.8, 0.05, 16000, 0.01, 1203),
}
DATASET_TYPES = {
    'coco-split1': 'CocoDataset',
    'coco-split2': 'CocoDataset',
    'coco2o365': 'Objects365V2Dataset',
    'lvis': 'LVISV1Dataset',
}
# docs/benchmark.md
VOC_CLASSES = {
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train',
    'boat', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow', 'bottle', 'chair',
    'couch', 'potted plant', 'dining table', 'tv'
}
SPLIT2_MINORITY = {
    'airplane', 'bus', 'boat', 'traffic light', 'fire hydrant',
    'parking meter', 'bird', 'cat', 'horse', 'sheep', 'cow', 'elephant',
    'zebra', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee', 'skis',
    'snowboard', 'baseball glove', 'wine glass', 'banana', 'apple',
    'sandwich', 'broccoli', 'hot dog', 'pizza', 'bed', 'dining table', 'tv',
    'mouse', 'remote', 'keyboard', 'oven', 'refrigerator', 'book', 'vase',
    'hair drier', 'toothbrush'
}

# Ablations of the supplement on COCO split1: config suffix -> the only
# (flattened) keys in which it differs from the split1 CISSOD config, with
# their values ('<list>' for the hook list, compared separately).
ABLATIONS: Dict[str, Dict[str, Any]] = {
    'beta-0.3': {
        'model.detector.roi_head.bbox_head.loss_cls.betas.labeled': 0.3},
    'beta-1.0': {
        'model.detector.roi_head.bbox_head.loss_cls.betas.labeled': 1.0},
    'gamma-0.1': {'custom_hooks': '<list>'},
    'solver-direct': {
        'model.detector.roi_head.bbox_head.loss_cls.solver.type': 'direct'},
    'solver-jacobi': {
        'model.detector.roi_head.bbox_head.loss_cls.solver.type': 'jacobi',
        'optim_wrapper.paramwise_cfg.custom_keys.balancer.solver.a.'
        'decay_mult': 0.0},
    'gbr-off': {
        'model.cissod_cfg.gbr.enable': False,
        'model.cissod_cfg.gbt.use_weight_term': False},
    'gbt-off': {'model.cissod_cfg.gbt.enable': False},
    'crs-off': {'model.cissod_cfg.crs.enable': False},
    'sampling-random-random': {
        'model.cissod_cfg.crs.enable': False,
        'train_dataloader.sampler.type': 'GroupMultiSourceSampler',
        'train_dataloader.sampler.labeled_rfs_threshold': '<absent>'},
}

#: the supervised, Soft Teacher and CISSOD config of every sub-task (the
#: ablations and configs/gbr/ only build their data and hooks here)
RUN_CONFIGS = [
    ci_ssod_config(kind, subtask) for subtask in SUBTASKS
    for kind in ('sup', 'soft-teacher', 'cissod')
]
#: the second SSOD framework on COCO split1 (docs/frameworks.md): mean
#: teacher without / with CISSOD, Faster R-CNN and RetinaNet
RUN_CONFIGS += [
    f'{CI_SSOD_DIR}/coco-split1/{prefix}_{detector}_180k_'
    'ci-ssod-coco-split1.py'
    for prefix in ('mean-teacher', 'cissod-mean-teacher')
    for detector in ('faster-rcnn_r50-caffe_fpn', 'retinanet_r50_fpn')
]


@functools.lru_cache(maxsize=None)
def _load_cached(path: str) -> Config:
    return Config.fromfile(osp.join(REPO, path))


def load(path: str) -> Config:
    """The loaded config (parsed once per session; a copy each call)."""
    return copy.deepcopy(_load_cached(path))


def test_benchmark_configs_found():
    for subtask in SUBTASKS:
        for kind in ('sup', 'soft-teacher', 'cissod'):
            assert ci_ssod_config(kind, subtask) in BENCH_CONFIGS
    for suffix in ABLATIONS:
        assert f'{ABLATION_PREFIX}_{suffix}.py' in BENCH_CONFIGS, suffix
    # no ablation config that this file does not know
    ablations = [p for p in BENCH_CONFIGS if '/ablations/' in p]
    assert len(ablations) == len(ABLATIONS), ablations


# --------------------------------------------------------------------------
# static checks: the numbers of docs/benchmark.md


def _hook(cfg: Config, hook_type: str) -> dict:
    hooks = [h for h in cfg.get('custom_hooks', []) if h.type == hook_type]
    assert len(hooks) == 1, (hook_type, cfg.get('custom_hooks'))
    return hooks[0]


@pytest.mark.parametrize('subtask', SUBTASKS)
def test_cissod_config_carries_design_defaults(subtask):
    (iters, gbr_warmup, ssod_warmup, beta, gamma, interval, rfs,
     num_classes) = REFERENCE_DEFAULTS[subtask]
    cfg = load(ci_ssod_config('cissod', subtask))
    model = cfg.model
    head = model.detector.roi_head.bbox_head
    loss = head.loss_cls
    # per sub-task (docs/benchmark.md table)
    assert cfg.train_cfg.type == 'FastResumeIterBasedTrainLoop'
    assert cfg.train_cfg.max_iters == iters
    assert cfg.param_scheduler[-1].end == iters
    # COCO split1/2: the reference's step at 180000 is never reached
    assert max(cfg.param_scheduler[-1].milestones) <= iters
    assert loss.type == 'GradientBalancedLoss'
    assert loss.warmup_iters == gbr_warmup
    assert model.cissod_cfg.ssod_warmup_iters == ssod_warmup
    assert loss.betas == dict(labeled=beta, unlabeled=1.0)
    crs = _hook(cfg, 'ClassRebalancingHook')
    assert crs.gamma == gamma and crs.interval == interval
    sampler = cfg.train_dataloader.sampler
    assert sampler.type == 'ClassRebalancingMultiSourceSampler'
    assert sampler.labeled_rfs_threshold == rfs
    assert head.num_classes == loss.num_classes == num_classes
    # common to all sub-tasks (docs/benchmark.md, "Common")
    assert model.type == 'CISSODSoftTeacher'
    assert model.cissod_cfg.gbr.enable is True
    assert model.cissod_cfg.gbt.enable and model.cissod_cfg.crs.enable
    assert model.cissod_cfg.gbt.use_score_term
    # the weight term tau / w_c on COCO only, as the reference
    assert model.cissod_cfg.gbt.use_weight_term is subtask.startswith(
        'coco-split')
    assert loss.solver.type == 'power'
    assert loss.gamma == 1.0  # softmax focal loss, as the reference
    assert loss.momentum == 0.999
    assert tuple(loss.weight_bounds) == pytest.approx((1 / 3, 5.0))
    assert loss.bg_max == 1.0
    _check_common_semi(cfg)
    assert _hook(cfg, 'GradientBalanceHook')
    assert _hook(cfg, 'PseudoLabelLoggerHook')


def _check_common_semi(cfg: Config) -> None:
    """Settings every semi-supervised run shares (docs/benchmark.md)."""
    model = cfg.model
    semi = model.semi_train_cfg
    assert semi.unsup_weight == 4.0 and semi.sup_weight == 1.0
    assert semi.rpn_pseudo_thr == 0.9 and semi.cls_pseudo_thr == 0.9
    assert semi.pseudo_label_initial_score_thr == 0.5
    assert semi.reg_pseudo_thr == 0.02
    assert semi.jitter_times == 10 and semi.jitter_scale == 0.06
    assert model.semi_test_cfg.predict_on == 'teacher'
    # 8 GPUs x 5 images, 1 labeled : 4 unlabeled
    assert cfg.train_dataloader.batch_size == 5
    assert cfg.train_dataloader.sampler.batch_size == 5
    assert list(cfg.train_dataloader.sampler.source_ratio) == [1, 4]
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == 'SGD' and optimizer.lr == 0.01
    assert optimizer.momentum == 0.9 and optimizer.weight_decay == 1e-4
    # teacher EMA 0.999: mmdet's MeanTeacherHook takes 1 - 0.999
    assert _hook(cfg, 'MeanTeacherHook').momentum == pytest.approx(0.001)
    assert cfg.val_cfg.type == 'TeacherStudentValLoop'
    _check_detector(model.detector)


def _check_detector(detector: dict) -> None:
    """Faster R-CNN R50-caffe FPN, ImageNet-pretrained for real users."""
    assert detector.type == 'FasterRCNN'
    assert detector.backbone.depth == 50
    assert detector.backbone.style == 'caffe'
    assert detector.backbone.init_cfg.type == 'Pretrained'
    assert detector.backbone.init_cfg.checkpoint == \
        'open-mmlab://detectron2/resnet50_caffe'
    assert detector.neck.type == 'FPN'


@pytest.mark.parametrize('subtask', SUBTASKS)
def test_baseline_configs_match_their_sub_task(subtask):
    iters, _, _, _, _, _, rfs, num_classes = REFERENCE_DEFAULTS[subtask]
    sup = load(ci_ssod_config('sup', subtask))
    assert sup.model.type == 'FasterRCNN'
    _check_detector(sup.model)
    assert sup.model.roi_head.bbox_head.num_classes == num_classes
    assert sup.train_cfg.max_iters == iters
    sampler = sup.train_dataloader.sampler
    assert sampler.type == 'ClassRebalancingMultiSourceSampler'
    assert sampler.labeled_rfs_threshold == rfs
    (labeled, ) = sup.train_dataloader.dataset.datasets
    # the labeled split, without the semi-supervised MultiBranch wrapper
    assert 'labeled' in labeled.ann_file
    assert all(t.type != 'MultiBranch' for t in labeled.pipeline)
    assert sup.val_cfg.type == 'ValLoop'
    optimizer = sup.optim_wrapper.optimizer
    assert optimizer.lr == 0.01 and optimizer.weight_decay == 1e-4

    st = load(ci_ssod_config('soft-teacher', subtask))
    assert st.model.type == 'SoftTeacher'
    assert st.model.detector.roi_head.bbox_head.num_classes == num_classes
    assert st.model.detector.roi_head.bbox_head.loss_cls.type == \
        'CrossEntropyLoss'
    assert st.train_cfg.max_iters == iters
    assert st.train_dataloader.sampler.type == 'GroupMultiSourceSampler'
    assert [h.type for h in st.custom_hooks] == ['MeanTeacherHook']
    _check_common_semi(st)


@pytest.mark.parametrize('subtask', SUBTASKS)
def test_data_settings_of_sub_task(subtask):
    """Split files, dataset types, classes and class groups
    (docs/benchmark.md)."""
    from mmdet.datasets import CocoDataset, LVISV1Dataset, Objects365V2Dataset

    from cissod.utils.config_checks import _dataset_classes, _find_num_classes
    for kind in ('sup', 'soft-teacher', 'cissod'):
        cfg = load(ci_ssod_config(kind, subtask))
        datasets = list(cfg.train_dataloader.dataset.datasets)
        datasets.append(cfg.val_dataloader.dataset)
        for ds in datasets:
            assert ds.type == DATASET_TYPES[subtask]
            classes = _dataset_classes(ds)
            assert len(classes) == REFERENCE_DEFAULTS[subtask][-1]
            # every num_classes of the model (bbox head, GbR loss) agrees
            assert set(_find_num_classes(cfg.model).values()) == {
                len(classes)}
        ann_files = [ds.ann_file for ds in datasets]
        assert cfg.val_evaluator.type == 'GroupCocoMetric'
        assert cfg.val_evaluator.ann_file.endswith(ann_files[-1])
        assert cfg.test_evaluator == cfg.val_evaluator
    labeled, unlabeled = [
        ds.ann_file
        for ds in load(ci_ssod_config('cissod', subtask)).train_dataloader.
        dataset.datasets
    ]
    groups = cfg.val_evaluator.get('class_groups')
    if subtask.startswith('coco-split'):
        n = subtask[-1]
        assert labeled == f'annotations/ci-ssod/split{n}_labeled.json'
        assert unlabeled == f'annotations/ci-ssod/split{n}_unlabeled.json'
        assert ann_files[-1] == 'annotations/instances_val2017.json'
        classes = CocoDataset.METAINFO['classes']
        assert tuple(cfg.val_dataloader.dataset.metainfo.classes) == classes
        minority = VOC_CLASSES if n == '1' else SPLIT2_MINORITY
        assert set(groups.minority) == minority
        assert set(groups.majority) == set(classes) - minority
        assert len(groups.majority) + len(groups.minority) == 80
    elif subtask == 'coco2o365':
        assert labeled.endswith('coco2o365/annotations/coco2o365_labeled.json')
        assert unlabeled.endswith(
            'coco2o365/annotations/coco2o365_unlabeled.json')
        assert ann_files[-1].endswith('zhiyuan_objv2_val.json')
        classes = Objects365V2Dataset.METAINFO['classes']
        assert len(groups.majority) == 78 and len(groups.minority) == 287
        assert set(groups.majority) | set(groups.minority) == set(classes)
        assert not set(groups.majority) & set(groups.minority)
        # the Objects365 side of the repository's COCO -> Objects365 mapping
        with open(osp.join(REPO, 'data', 'coco_to_objects365.json')) as f:
            mapping = json.load(f)
        mapping = mapping.get('mapping', mapping)
        assert set(groups.majority) == {v for v in mapping.values() if v}
        # spot checks (mmdet's Objects365 names, typos included)
        assert {'Person', 'Wild Bird', 'Moniter/TV', 'Dinning Table',
                'Luggage', 'Bear', 'Hair Dryer'} <= set(groups.majority)
        assert {'Stuffed Toy', 'Other Balls', 'Soccer'} <= set(
            groups.minority)
    else:
        assert labeled == 'annotations/lvis_v1_train_labeled.json'
        assert unlabeled == 'annotations/lvis_v1_train_unlabeled.json'
        assert ann_files[-1] == 'annotations/lvis_v1_val.json'
        assert len(LVISV1Dataset.METAINFO['classes']) == 1203
        assert groups is None  # r / c / f come from the annotation file
        # LVIS' official federated evaluation, 300 detections per image
        assert cfg.val_evaluator.federated is True
        assert cfg.val_evaluator.backend == 'faster_coco_eval'
        assert cfg.val_evaluator.max_dets_per_image == 300
        for kind in ('sup', 'soft-teacher', 'cissod'):
            model = load(ci_ssod_config(kind, subtask)).model
            tests = [node['rcnn']['max_per_img'] for node in _walk(model)
                     if isinstance(node.get('rcnn'), dict)
                     and 'max_per_img' in node['rcnn']]
            assert tests and set(tests) == {300}, (kind, tests)


def _flatten(node: Any, prefix: str = '') -> Dict[str, Any]:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out.update(_flatten(value, f'{prefix}.{key}' if prefix else key))
        return out
    if isinstance(node, list) and prefix == 'custom_hooks':
        return {prefix: '<list>'}
    if isinstance(node, list):
        node = tuple(node)
    return {prefix: node}


@pytest.mark.parametrize('suffix', sorted(ABLATIONS))
def test_ablation_changes_only_its_setting(suffix):
    base = _flatten(load(SPLIT1_CISSOD).to_dict())
    base_hooks = load(SPLIT1_CISSOD).custom_hooks
    cfg = load(f'{ABLATION_PREFIX}_{suffix}.py')
    flat = _flatten(cfg.to_dict())
    expected = ABLATIONS[suffix]
    changed = {
        k for k in set(base) | set(flat)
        if base.get(k, '<absent>') != flat.get(k, '<absent>')
    }
    hooks_changed = [h.to_dict() for h in cfg.custom_hooks] != \
        [h.to_dict() for h in base_hooks]
    if hooks_changed:
        changed.add('custom_hooks')
    assert changed == set(expected), sorted(changed ^ set(expected))
    for key, value in expected.items():
        if value != '<list>':
            assert flat.get(key, '<absent>') == value, key
    # one switch per module: the hooks follow cissod_cfg, so no ablation
    # restates the hook list (CrS off keeps an idle ClassRebalancingHook)
    assert [h.type for h in cfg.custom_hooks] == \
        [h.type for h in base_hooks]
    if suffix == 'gamma-0.1':
        assert _hook(cfg, 'ClassRebalancingHook').gamma == 0.1
        assert _hook(cfg, 'ClassRebalancingHook').interval == 16000


# --------------------------------------------------------------------------
# the configs on the demo fixture

#: 64 px (the demo images are 128 px with 12-48 px objects): the R50
#: backbone dominates the CPU time
SMALL_SCALES = {'RandomResize': [(80, 48), (80, 80)], 'Resize': (64, 64)}
NUM_VAL_IMAGES = 4
#: low enough that the untrained teacher yields pseudo labels (GbT, CrS)
LOW_THRESHOLDS = dict(pseudo_label_initial_score_thr=0.05,
                      cls_pseudo_thr=0.11, rpn_pseudo_thr=0.11)


@pytest.fixture(scope='module')
def bench_data(demo_data_root, tmp_path_factory) -> Dict[str, Any]:
    """The demo data in the layouts the benchmark configs read.

    COCO format (CocoDataset, Objects365V2Dataset): the demo's train files
    and ``val.json`` (its first NUM_VAL_IMAGES images); ``lvis/``: the same
    images and boxes as LVIS v1 files (``coco_url`` instead of
    ``file_name``, category ``frequency``, no ``iscrowd``), read by
    LVISV1Dataset and GroupCocoMetric's r / c / f groups. Images:
    ``images/{train,val}/``.
    """
    root = str(tmp_path_factory.mktemp('bench_data'))
    os.symlink(osp.join(demo_data_root, 'images'), osp.join(root, 'images'))
    with open(osp.join(demo_data_root, 'meta.json')) as f:
        meta = json.load(f)
    files = dict(labeled='train_labeled.json',
                 unlabeled='train_unlabeled.json', val='val.json')
    coco = {k: osp.join(demo_data_root, 'annotations', v)
            for k, v in files.items()}
    lvis = {}
    os.makedirs(osp.join(root, 'lvis'))
    # a few validation images keep the evaluation at the end of a run fast
    with open(coco['val']) as f:
        val = json.load(f)
    keep = {im['id'] for im in val['images'][:NUM_VAL_IMAGES]}
    val['images'] = [im for im in val['images'] if im['id'] in keep]
    val['annotations'] = [
        a for a in val['annotations'] if a['image_id'] in keep
    ]
    coco['val'] = osp.join(root, 'val.json')
    with open(coco['val'], 'w') as f:
        json.dump(val, f)
    freq = {name: ('f' if i < 3 else 'c' if i < 5 else 'r')
            for i, name in enumerate(meta['classes'])}
    for key, path in coco.items():
        with open(path) as f:
            data = json.load(f)
        split = 'val' if key == 'val' else 'train'
        for im in data['images']:
            im['coco_url'] = ('http://images.cocodataset.org/'
                              f"{split}/{im.pop('file_name')}")
            im['neg_category_ids'] = []
            im['not_exhaustive_category_ids'] = []
        for ann in data['annotations']:
            ann.pop('iscrowd', None)
        for cat in data['categories']:
            cat['frequency'] = freq[cat['name']]
        lvis[key] = osp.join(root, 'lvis', files[key])
        with open(lvis[key], 'w') as f:
            json.dump(data, f)
    return dict(root=root, coco=coco, lvis=lvis, classes=meta['classes'],
                majority=meta['majority'], minority=meta['minority'])


def _walk(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _walk(value)


def _leaf_datasets(dataset_cfg: dict) -> List[dict]:
    from cissod.utils import iter_dataset_cfgs
    return list(iter_dataset_cfgs(dataset_cfg))


def _fewer_rois(model: dict) -> None:
    """Fewer proposals / sampled RoIs / detections (pseudo boxes, each
    jittered 10 times): a full-size R50 Faster R-CNN with 1000 proposals
    per image takes ~30 s per Soft Teacher iteration on two CPU cores."""
    for node in list(_walk(model)):
        if 'rpn_proposal' in node:  # train_cfg
            node['rpn_proposal'].update(nms_pre=100, max_per_img=32)
            node['rcnn']['sampler']['num'] = 32
        elif 'rpn' in node and 'rcnn' in node and 'nms_pre' in node['rpn']:
            node['rpn'].update(nms_pre=100, max_per_img=32)  # test_cfg
            node['rcnn']['max_per_img'] = 5


def on_fixture(path: str, data: Dict[str, Any], work_dir: str,
               max_iters: int = 2) -> Config:
    """Load a benchmark config and point it at the demo fixture.

    Changed: data files and classes (8), ``num_classes``, image scales
    (64 px), no pretrained and a frozen backbone, fewer proposals and RoIs,
    low pseudo-label thresholds (the teacher is untrained), no dataloader
    workers, no checkpoints, seed 0, the iteration count, and the GbR /
    SSOD warm-ups and the CrS interval (1 iteration each). Everything else
    is the config's.
    """
    cfg = load(path)
    classes = tuple(data['classes'])
    n = len(classes)
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    cfg.load_from = None
    cfg.randomness = dict(seed=0)
    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = 10**6
    cfg.param_scheduler = [
        dict(s, end=max_iters) if s.get('end', 0) > max_iters else s
        for s in cfg.param_scheduler
    ]
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = None
    # model: 8 classes, 128 px friendly, no download
    for node in list(_walk(cfg.model)):
        if node.get('type') == 'ResNet':
            node['init_cfg'] = None
            # no backward through the backbone (most of the CPU time); the
            # neck and the heads still train
            node['frozen_stages'] = node['num_stages']
    for node in list(_walk(cfg.model)):
        for key in list(node):
            if key == 'num_classes':
                node[key] = n
    _fewer_rois(cfg.model)
    for node in list(_walk(cfg.model)):
        if node.get('type') in ('GradientBalancedLoss',
                                'GradientBalancedFocalLoss'):
            node['warmup_iters'] = 1
    if 'cissod_cfg' in cfg.model:
        cfg.model.cissod_cfg.ssod_warmup_iters = 1
        if 'tau_min' in cfg.model.cissod_cfg.get('gbt', {}):
            cfg.model.cissod_cfg.gbt.tau_min = 0.05  # <= cls_pseudo_thr
    for node in list(_walk(cfg.model)):
        if node.get('type') == 'RetinaHead':
            # an untrained RetinaNet scores every anchor at its prior
            # (0.01), below the test score_thr: start the classifier at 0.2
            node['init_cfg'] = dict(
                type='Normal', layer='Conv2d', std=0.01,
                override=dict(type='Normal', name='retina_cls', std=0.01,
                              bias_prob=0.2))
    if 'semi_train_cfg' in cfg.model:
        cfg.model.semi_train_cfg.update(LOW_THRESHOLDS)
    for hook in cfg.get('custom_hooks', []):
        if hook.type == 'ClassRebalancingHook':
            hook.interval = 1
        if 'log_interval' in hook:
            hook.log_interval = 1
    # data
    lvis = None
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[key]
        loader.num_workers = 0
        loader.persistent_workers = False
        leaves = _leaf_datasets(loader.dataset)
        roles = ['labeled', 'unlabeled'] if key == 'train_dataloader' \
            else ['val']
        for role, ds in zip(roles, leaves):
            is_lvis = ds.type.startswith('LVIS')
            lvis = is_lvis if lvis is None else lvis
            ds.data_root = data['root']
            ds.ann_file = (data['lvis'] if is_lvis else data['coco'])[role]
            split = 'val' if role == 'val' else 'train'
            ds.data_prefix = dict(
                img='images/' if is_lvis else f'images/{split}/')
            ds.metainfo = dict(classes=classes)
        for node in list(_walk(loader.dataset)):
            if node.get('type') in SMALL_SCALES:
                node['scale'] = SMALL_SCALES[node['type']]
    for key in ('val_evaluator', 'test_evaluator'):
        evaluator = cfg[key]
        evaluator.ann_file = (data['lvis'] if lvis else data['coco'])['val']
        if evaluator.get('class_groups'):
            evaluator.class_groups = dict(majority=data['majority'],
                                          minority=data['minority'])
    return cfg


@pytest.mark.parametrize('path', BENCH_CONFIGS)
def test_config_builds_datasets_sampler_hooks_on_fixture(
        path, bench_data, tmp_path):
    """Datasets (the config's own types), sampler, evaluator and hooks."""
    from mmdet.registry import DATA_SAMPLERS, DATASETS, HOOKS, LOOPS, METRICS

    import cissod  # noqa: F401
    from cissod.utils import check_config
    init_default_scope('mmdet')
    cfg = on_fixture(path, bench_data, str(tmp_path))
    check_config(cfg, modes=('train', 'val', 'test'))
    train = DATASETS.build(copy.deepcopy(cfg.train_dataloader.dataset))
    assert len(train) > 0
    datasets = getattr(train, 'datasets', [train])
    for ds in datasets:
        assert tuple(ds.metainfo['classes']) == tuple(bench_data['classes'])
        assert len(ds) > 0
        # the data resolve to image files and boxes in the config's layout
        info = ds.get_data_info(0)
        assert osp.isfile(info['img_path']), info['img_path']
    if 'labeled' in cfg.train_dataloader.dataset.get('datasets', [{}])[0].get(
            'ann_file', ''):
        labeled = datasets[0]
        assert sum(len(labeled.get_cat_ids(i))
                   for i in range(len(labeled))) > 0
    sampler_cfg = copy.deepcopy(cfg.train_dataloader.sampler)
    sampler = DATA_SAMPLERS.build(sampler_cfg,
                                  default_args=dict(dataset=train, seed=0))
    first = list(_take(iter(sampler), cfg.train_dataloader.batch_size))
    assert len(first) == cfg.train_dataloader.batch_size
    val = DATASETS.build(copy.deepcopy(cfg.val_dataloader.dataset))
    assert len(val) > 0 and osp.isfile(val.get_data_info(0)['img_path'])
    metric = METRICS.build(copy.deepcopy(cfg.val_evaluator))
    metric.dataset_meta = val.metainfo  # checks the class groups
    for hook_cfg in cfg.get('custom_hooks', []):
        HOOKS.build(copy.deepcopy(hook_cfg))
    assert LOOPS.get(cfg.train_cfg.type) is not None
    assert LOOPS.get(cfg.val_cfg.type) is not None


def _take(iterator: Iterator, n: int) -> Iterator:
    for _ in range(n):
        yield next(iterator)


class Recorder(Hook):
    """Keeps every training iteration's losses and the validation metrics."""
    priority = 'VERY_LOW'

    def __init__(self):
        self.losses: List[Dict[str, float]] = []
        self.metrics: Dict[str, float] = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.losses.append({k: float(v) for k, v in outputs.items()})

    def after_val_epoch(self, runner, metrics=None):
        self.metrics.update(metrics or {})


@pytest.fixture
def one_thread():
    """Run torch on one thread: on a shared 2-core machine two OpenMP
    threads that wait for each other were measured 10-20x slower (R50
    forward, 5 images at 64 px: 0.1 s with 1 thread, 1.3-2.4 s with 2)."""
    import torch
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _unwrap(runner):
    return runner.model.module if hasattr(runner.model, 'module') \
        else runner.model


@pytest.mark.parametrize('path', RUN_CONFIGS)
def test_config_trains_two_iterations_on_fixture(path, bench_data, tmp_path,
                                                one_thread):
    """2 CPU iterations with the config's model, pipelines, sampler, loop
    and hooks; GbR solves, GbT thresholds and the CrS pool are exercised."""
    from mmengine.runner import Runner

    from cissod.models.losses import gbr_losses_of
    cfg = on_fixture(path, bench_data, str(tmp_path))
    cfg.train_cfg.val_begin = 10**6  # validated below instead
    runner = Runner.from_cfg(cfg)
    recorder = Recorder()
    runner.register_hook(recorder)
    runner.train()
    assert len(recorder.losses) == 2
    for losses in recorder.losses:
        assert all(math.isfinite(v) for v in losses.values()), losses
    model = _unwrap(runner)
    assert runner.iter == 2
    if cfg.model.type in ('CISSODSoftTeacher', 'CISSODMeanTeacher'):
        assert any(k.startswith('unsup_') for k in recorder.losses[-1])
        (gbr_loss, ) = gbr_losses_of(model).values()
        balancer = gbr_loss.balancer
        assert balancer.num_updates == 2 and not balancer.in_warmup
        assert balancer.weights.numel() == len(bench_data['classes']) + 1
        (crs, ) = [h for h in runner.hooks
                   if type(h).__name__ == 'ClassRebalancingHook']
        rb = crs.rebalancer
        assert rb is not None and rb.class_factors is not None
        assert rb.lam > 0
        assert model.after_ssod_warmup
        # pseudo labels passed the GbT thresholds and reached the CrS pool
        assert int(model.pseudo_label_counts.sum()) > 0
        assert rb.pool.num_images_with_labels() > 0
    # the config's validation: GroupCocoMetric with the config's groups
    # (LVIS: r / c / f from the annotation file)
    # LVIS v1 annotations carry no `iscrowd`: the metric defaults it to 0
    runner.val_loop.run()
    keys = ['bbox_mAP']
    if 'lvis' in path:
        keys += ['bbox_APr', 'bbox_APc', 'bbox_APf']
    else:
        keys += ['bbox_majority_mAP', 'bbox_minority_mAP']
    prefixes = ['coco/'] if cfg.val_cfg.type == 'ValLoop' else [
        'teacher/coco/', 'student/coco/']
    for prefix in prefixes:
        for key in keys:
            assert prefix + key in recorder.metrics, sorted(recorder.metrics)
