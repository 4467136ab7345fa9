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
    assert len(CONFIGS) >= 4


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
    assert sum(p.numel() for p in model.parameters()) > 0
