"""tools/test.py --minority / --class-groups on the LVIS config: the groups
are added to the config's federated GroupCocoMetric (same evaluation
rules and pass as AP / APr / APc / APf), not to a COCO-style one."""
import argparse
import importlib.util
import os.path as osp

from conftest import REPO
from mmengine.config import Config


def _test_tool():
    spec = importlib.util.spec_from_file_location(
        'cissod_test_tool', osp.join(REPO, 'tools', 'test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lvis_groups_keep_federated_evaluation():
    tool = _test_tool()
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'ci-ssod', 'lvis',
                 'cissod_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-lvis.py'))
    classes = tool._test_classes(cfg)
    assert len(classes) == 1203
    args = argparse.Namespace(minority=list(classes[:3]), class_groups=None)
    groups = tool.parse_class_groups(args, classes)
    tool.set_class_groups(cfg, groups)
    ev = cfg.test_evaluator
    assert ev.type == 'GroupCocoMetric'
    assert set(ev.class_groups) == {'majority', 'minority'}
    assert list(ev.class_groups['minority']) == list(classes[:3])
    assert ev.federated is True and ev.backend == 'faster_coco_eval'
    assert ev.max_dets_per_image == 300
