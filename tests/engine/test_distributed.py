"""Two CPU processes under torchrun (gloo): the GbR reduction, the GbT score
statistics, the CrS pool merge and the sampler sharding agree across ranks.

Runs ``tools/train.py configs/demo/cissod_demo.py --launcher pytorch`` with
``torch.distributed.run --nproc_per_node=2`` for a few iterations (GbR and
SSOD warm-ups shortened, CrS updated every 2 iterations) and compares the
state every rank dumps after training (tests/engine/dist_state_probe.py).
"""
import os
import os.path as osp
import socket
import subprocess
import sys

import torch
from conftest import REPO, demo_cfg

LOW_THRESHOLDS = {
    'model.semi_train_cfg.pseudo_label_initial_score_thr': 0.05,
    'model.semi_train_cfg.cls_pseudo_thr': 0.11,
    'model.semi_train_cfg.rpn_pseudo_thr': 0.11,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _equal(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


def test_two_ranks_hold_identical_state(demo_data_root, tmp_path):
    iters = 6
    overrides = dict(LOW_THRESHOLDS)
    overrides.update({
        'model.cissod_cfg.ssod_warmup_iters': 1,
        'model.detector.roi_head.bbox_head.loss_cls.warmup_iters': 1,
        'env_cfg.dist_cfg.backend': 'gloo',
        'custom_imports.imports': ['cissod', 'dist_state_probe'],
    })
    cfg = demo_cfg('configs/demo/cissod_demo.py', demo_data_root,
                   str(tmp_path), max_iters=iters, **overrides)
    for hook in cfg.custom_hooks:
        if hook['type'] == 'ClassRebalancingHook':
            hook['interval'] = 2
    cfg.custom_hooks.append(dict(type='DistStateProbe'))
    cfg_file = str(tmp_path / 'cissod_demo_dist.py')
    cfg.dump(cfg_file)
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [osp.dirname(osp.abspath(__file__)), REPO, env.get('PYTHONPATH', '')])
    env['OMP_NUM_THREADS'] = '1'
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         f'--master_port={_free_port()}',
         osp.join(REPO, 'tools/train.py'), cfg_file, '--launcher', 'pytorch',
         '--work-dir', str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    states = [torch.load(str(tmp_path / f'rank{r}_state.pt'),
                         map_location='cpu', weights_only=False)
              for r in range(2)]
    a, b = states
    # the ranks trained on different images (disjoint sampler shares) ...
    assert len(a['img_ids']) == len(b['img_ids']) == iters
    assert a['img_ids'] != b['img_ids']
    # ... and still hold the same method state
    assert a['gbr_updates'] == iters
    for key in ('gbr_weights', 'gbr_matrix', 'thresholds', 'score_means',
                'pseudo_label_counts', 'pool', 'class_factors',
                'sampler_weights'):
        assert _equal(a[key], b[key]), key
    assert not torch.all(a['gbr_weights'] == 1)  # solved after the warm-up
    assert int(a['pseudo_label_counts'].sum()) > 0
    assert a['class_factors'] is not None
    # the pool holds the pseudo labels of both ranks' images
    pool_images = torch.nonzero(
        (a['pool']['classes'] >= 0).any(1)).flatten().numel()
    assert pool_images > 0
