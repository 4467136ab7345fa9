"""Every config under configs/ loads and builds its model (no downloads)."""
import glob
import os.path as osp

import pytest
from conftest import REPO
from mmengine.config import Config
from mmengine.registry import init_default_scope

CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                         recursive=True) if '/_base_/' not in p)


def test_configs_found():
    """Every tracked config is tested, and every benchmark family has its
    supervised, Soft Teacher and CISSOD config."""
    import subprocess
    tracked = subprocess.run(['git', 'ls-files', 'configs/*.py'], cwd=REPO,
                             capture_output=True, text=True).stdout.split()
    assert [osp.relpath(p, REPO) for p in CONFIGS] == sorted(
        p for p in tracked if '/_base_/' not in p)
    for family in ('coco-split1', 'coco-split2', 'coco2o365', 'lvis'):
        names = [osp.basename(p) for p in CONFIGS
                 if f'/ci-ssod/{family}/' in p]
        for prefix in ('faster-rcnn_', 'soft-teacher_', 'cissod_'):
            assert any(n.startswith(prefix) for n in names), (family, prefix)


def _train_classes(cfg):
    """The class names the config trains on (its metainfo or, without one,
    the dataset type's), or None."""
    from mmdet.registry import DATASETS

    from cissod.utils import iter_dataset_cfgs
    for ds in iter_dataset_cfgs(cfg.train_dataloader.dataset):
        classes = (ds.get('metainfo') or {}).get('classes')
        if classes:
            return tuple(classes)
        return tuple(DATASETS.get(ds['type']).METAINFO['classes'])
    return None


def _head_and_cfg(model, model_cfg):
    """The classification head of the (student) detector, and its config."""
    detector = getattr(model, 'student', model)
    det_cfg = model_cfg.get('detector', model_cfg)
    if hasattr(detector, 'roi_head'):
        return detector.roi_head.bbox_head, det_cfg.roi_head.bbox_head
    return detector.bbox_head, det_cfg.bbox_head


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.relpath(p, REPO) for p in CONFIGS])
def test_config_builds_model(path):
    from mmdet.registry import MODELS

    import cissod  # noqa: F401
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmdet'
    assert 'cissod' in cfg.custom_imports['imports']
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    assert type(model) is MODELS.get(cfg.model.type)
    head, head_cfg = _head_and_cfg(model, cfg.model)
    classes = _train_classes(cfg)
    assert head.num_classes == len(classes), (head.num_classes, classes)
    assert type(head.loss_cls) is MODELS.get(head_cfg.loss_cls.type)
    if hasattr(head.loss_cls, 'balancer'):  # GbR: one weight per class
        assert head.loss_cls.num_classes == len(classes)
        assert head.loss_cls.balancer.weights.numel() == len(classes) + 1
