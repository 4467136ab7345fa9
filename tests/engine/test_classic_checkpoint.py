"""A checkpoint written on the classic stack (torch 2.5.1, mmengine 0.10.7)
restores the method state on the stack the suite runs on.

The fixture is the method part of a CISSOD demo checkpoint made on the
classic stack (``tests/fixtures/make_classic_checkpoint.py`` says how):
everything as written there but the network weights and optimizer state.
"""
import copy
import os.path as osp

import torch
from conftest import REPO, demo_cfg
from mmengine.logging import HistoryBuffer
from mmengine.registry import init_default_scope
from mmengine.runner import checkpoint as mmengine_checkpoint

from cissod.utils import load_checkpoint_file
from cissod_core.crs import ClassRebalancer

FIXTURE = osp.join(REPO, 'tests', 'fixtures', 'classic_cissod_demo_iter4.pth')


def test_classic_checkpoint_loads_weights_only_and_restores_method_state(
        demo_data_root, tmp_path, torch_load_calls):
    weights_only_stack = hasattr(mmengine_checkpoint,
                                 'get_torch_safe_globals')
    ckpt = load_checkpoint_file(FIXTURE)
    if weights_only_stack:  # no fallback to weights_only=False
        assert torch_load_calls == [True], torch_load_calls
    assert ckpt['meta']['mmengine_version'].startswith('0.10.7')
    assert ckpt['meta']['iter'] == 4
    scalars = ckpt['message_hub']['log_scalars']
    assert scalars and all(isinstance(b, HistoryBuffer)
                           for b in scalars.values())

    # GbR / GbT buffers into a model built here
    from mmdet.registry import MODELS

    import cissod  # noqa: F401
    init_default_scope('mmdet')
    cfg = demo_cfg('configs/demo/cissod_demo.py', demo_data_root,
                   str(tmp_path))
    model = MODELS.build(copy.deepcopy(cfg.model))
    state = ckpt['state_dict']
    result = model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    mine = model.state_dict()
    assert any('.balancer.grad_matrix.value' in k for k in state)
    for key, value in state.items():
        assert torch.equal(mine[key], value), key
    # no batch or box was left out in that run
    assert int(model.class_thresholds.score_means.num_skipped) == 0

    # the CrS pool, factors and lambda into a rebalancer of that size
    crs = ckpt['cissod_crs']
    num_images = int(crs['pool']['num_images'])
    rebalancer = ClassRebalancer(
        list(range(num_images)), [[0]],
        num_classes=int(crs['pool']['num_classes']),
        max_classes_per_image=int(crs['pool']['max_classes_per_image']))
    rebalancer.load_state_dict(crs)
    assert torch.equal(rebalancer.pool.classes, crs['pool']['classes'])
    assert rebalancer.num_skipped_boxes == 0
    assert rebalancer.lam == crs['lam'] > 0
    # the sampler's tables: plain types and tensors
    tables = crs['sampler']['tables']
    assert all(isinstance(t['weights'], torch.Tensor)
               for source in tables for t in source)
