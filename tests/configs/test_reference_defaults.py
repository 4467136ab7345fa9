"""The reference method's defaults in the CI-SSOD benchmark configs.

Pinned here, read from the loaded configs (``Config.fromfile``):

* the learning-rate schedule: COCO split1/2 never decay within the 180k
  iterations (the reference's step at 180000), LVIS steps at 140k / 160k,
  COCO -> Objects365 at 280k / 320k of 360k;
* GbT: class scores from the teacher's RoI-head detections with score >
  0.05, undetected classes at the floor, the weight term on COCO only;
* CrS: ``ClassRebalancingMultiSourceSampler`` with ``ceil`` repeat factors.
"""
import functools
import glob
import inspect
import os.path as osp

import pytest
from conftest import REPO
from mmengine.config import Config

CI_SSOD = osp.join(REPO, 'configs', 'ci-ssod')

#: sub-task folder -> (MultiStepLR milestones, max_iters)
SCHEDULES = {
    'coco-split1': ([180000], 180000),
    'coco-split2': ([180000], 180000),
    'lvis': ([140000, 160000], 180000),
    'coco2o365': ([280000, 320000], 360000),
}
#: sub-task folder -> GbT use_weight_term (the reference: COCO only)
WEIGHT_TERM = {
    'coco-split1': True,
    'coco-split2': True,
    'lvis': False,
    'coco2o365': False,
}


def configs_in(subtask: str):
    paths = sorted(glob.glob(osp.join(CI_SSOD, subtask, '*.py')))
    return [osp.relpath(p, REPO) for p in paths]


ALL_CONFIGS = [(subtask, path) for subtask in SCHEDULES
               for path in configs_in(subtask)]
CISSOD_CONFIGS = [(subtask, path) for subtask, path in ALL_CONFIGS
                  if osp.basename(path).startswith('cissod_')]


@functools.lru_cache(maxsize=None)
def load(path: str) -> Config:
    return Config.fromfile(osp.join(REPO, path))


#: sub-task -> configs of the second SSOD framework (docs/frameworks.md):
#: mean teacher and CISSOD on it, Faster R-CNN and RetinaNet
FRAMEWORK_CONFIGS = {
    'coco-split1': [
        f'{prefix}_{detector}_180k_ci-ssod-coco-split1.py'
        for prefix in ('cissod-mean-teacher', 'mean-teacher')
        for detector in ('faster-rcnn_r50-caffe_fpn', 'retinanet_r50_fpn')
    ],
}


def test_every_sub_task_has_its_configs():
    for subtask in SCHEDULES:
        names = [osp.basename(p) for p in configs_in(subtask)]
        extra = FRAMEWORK_CONFIGS.get(subtask, [])
        assert set(extra) <= set(names), (extra, names)
        names = [n for n in names if n not in extra]
        # supervised, Soft Teacher and CISSOD
        assert len(names) == 3, names
        assert sum(n.startswith('cissod_') for n in names) == 1, names
    assert len(CISSOD_CONFIGS) == 4


@pytest.mark.parametrize('subtask,path', ALL_CONFIGS)
def test_lr_milestones(subtask, path):
    milestones, max_iters = SCHEDULES[subtask]
    cfg = load(path)
    assert cfg.train_cfg.max_iters == max_iters
    steps = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR']
    assert len(steps) == 1, cfg.param_scheduler
    (step, ) = steps
    assert list(step.milestones) == milestones
    assert step.gamma == 0.1
    assert step.by_epoch is False
    assert step.begin == 0 and step.end == max_iters
    # COCO: the reference's step at 180000 is never reached in the run
    if subtask.startswith('coco-split'):
        assert min(step.milestones) >= max_iters
    else:
        assert max(step.milestones) < max_iters
    # the linear warm-up is unchanged: 500 iterations from 0.001
    (warmup, ) = [s for s in cfg.param_scheduler if s.type == 'LinearLR']
    assert warmup.start_factor == 0.001 and warmup.end == 500


@pytest.mark.parametrize('subtask,path', CISSOD_CONFIGS)
def test_gbt_reference_defaults(subtask, path):
    cfg = load(path)
    assert cfg.model.type == 'CISSODSoftTeacher'
    cissod_cfg = cfg.model.cissod_cfg
    gbt = cissod_cfg.gbt
    assert gbt.enable is True
    assert gbt.use_weight_term is WEIGHT_TERM[subtask]
    assert gbt.use_score_term is True
    assert gbt.score_source == 'detections'
    assert gbt.detection_score_thr == 0.05
    assert gbt.unseen_classes == 'floor'
    # the class-adaptive floor is an improvement, not the reference
    assert gbt.get('floor_min') is None
    assert cissod_cfg.get('preset', 'reference') == 'reference'
    assert cissod_cfg.crs.get('margin',
                              'score_minus_threshold') == \
        'score_minus_threshold'


@pytest.mark.parametrize('subtask,path', CISSOD_CONFIGS)
def test_crs_sampler_reference_defaults(subtask, path):
    from cissod.datasets.samplers import ClassRebalancingMultiSourceSampler
    cfg = load(path)
    sampler = cfg.train_dataloader.sampler
    assert sampler.type == 'ClassRebalancingMultiSourceSampler'
    assert sampler.get('repeat_mode', 'ceil') == 'ceil'
    params = inspect.signature(ClassRebalancingMultiSourceSampler).parameters
    assert params['repeat_mode'].default == 'ceil'


def test_model_base_carries_the_gbt_reference_options():
    """The defaults come from the shared CISSOD model base."""
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'models',
                 'cissod_faster-rcnn_r50-caffe_fpn.py'))
    gbt = cfg.model.cissod_cfg.gbt
    assert gbt.score_source == 'detections'
    assert gbt.detection_score_thr == 0.05
    assert gbt.unseen_classes == 'floor'
    assert gbt.use_score_term is True and gbt.use_weight_term is True
    assert cfg.model.cissod_cfg.get('preset', 'reference') == 'reference'


def test_gbt_options_reach_the_model_defaults():
    """Without the config keys, the code defaults are the reference's as
    well (ClassThresholds, init_class_imbalance)."""
    from cissod.models.detectors.class_imbalance_mixin import (
        ClassImbalanceMixin,
    )
    from cissod_core.gbt import ClassThresholds, gbt_thresholds
    for fn in (gbt_thresholds, ClassThresholds):
        params = inspect.signature(fn).parameters
        assert params['unseen_classes'].default == 'floor'
        assert params['floor_min'].default is None
    params = inspect.signature(
        ClassImbalanceMixin.init_class_imbalance).parameters
    assert params['preset'].default == 'reference'
