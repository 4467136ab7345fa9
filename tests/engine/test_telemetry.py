"""Training-time telemetry of the GbR / GbT / CrS hooks: short CPU runs of
configs/demo/cissod_demo.py with the local visualizer backend."""
import glob
import json
import os.path as osp

import pytest
import torch
from conftest import demo_cfg
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from cissod.engine.hooks import ClassRebalancingHook, GradientBalanceHook
from cissod.models.detectors import published_pseudo_labels
from cissod_core.crs import compute_crs_factors

LOW_THRESHOLDS = {
    'model.semi_train_cfg.pseudo_label_initial_score_thr': 0.05,
    'model.semi_train_cfg.cls_pseudo_thr': 0.11,
    'model.semi_train_cfg.rpn_pseudo_thr': 0.11,
}
HIGH_THRESHOLDS = {
    'model.semi_train_cfg.pseudo_label_initial_score_thr': 0.999,
    'model.semi_train_cfg.cls_pseudo_thr': 0.999,
}


def _cfg(data_root, work_dir, max_iters, thresholds, warn_after=200):
    overrides = dict(thresholds)
    overrides.update({
        'model.cissod_cfg.ssod_warmup_iters': 1,
        'model.detector.roi_head.bbox_head.loss_cls.warmup_iters': 1,
        'log_level': 'INFO',
        # a visualizer of its own (mmengine reuses instances by name)
        'visualizer.name': f'telemetry_{osp.basename(work_dir)}',
    })
    cfg = demo_cfg('configs/demo/cissod_demo.py', data_root, work_dir,
                   max_iters=max_iters, **overrides)
    for hook in cfg.custom_hooks:
        if hook['type'] == 'ClassRebalancingHook':
            hook['interval'] = 2
        elif hook['type'] in ('GradientBalanceHook', 'PseudoLabelLoggerHook'):
            hook['log_interval'] = 2
        if hook['type'] == 'PseudoLabelLoggerHook':
            hook['warn_after'] = warn_after
    return cfg


class GradProbe(Hook):
    """Copies the GbR, pseudo-label and CrS state after every iteration
    (after all other hooks)."""
    priority = 'LOWEST'

    def __init__(self):
        self.states = {}
        self.pseudo = {}
        self.crs = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        (hook, ) = [h for h in runner.hooks
                    if isinstance(h, GradientBalanceHook)]
        (balancer, ) = hook.balancers.values()
        self.states[runner.iter + 1] = dict(
            G=balancer.gradient_matrix.detach().double().cpu().clone(),
            w=balancer.weights.detach().double().cpu().clone())
        batches = published_pseudo_labels(runner.message_hub)
        self.pseudo[runner.iter + 1] = (
            sum(len(b.labels) for b in batches),
            sum(len(b.img_ids) for b in batches),
            sum(int(b.num_candidates.sum()) for b in batches))
        (crs, ) = [h for h in runner.hooks
                   if isinstance(h, ClassRebalancingHook)]
        rb = crs.rebalancer
        if rb.class_factors is not None and not self.crs:
            # the first factor update, recomputed from the pool as it was
            _, factors = compute_crs_factors(rb.pool,
                                             rb.labeled_class_images,
                                             rb.num_labeled_images, rb.lam)
            self.crs[runner.iter + 1] = (
                sum(float(f) > 1 for f in factors) / len(factors),
                max(float(f) for f in factors))


def _scalars(runner) -> list:
    path = osp.join(runner.log_dir, 'vis_data', 'scalars.json')
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _log_text(runner) -> str:
    (path, ) = glob.glob(osp.join(runner.log_dir, '*.log'))
    with open(path) as f:
        return f.read()


def _last(records, key):
    rows = [r for r in records if key in r]
    assert rows, f'{key} was never logged'
    return rows[-1]


def test_telemetry_scalars(demo_data_root, tmp_path):
    probe = GradProbe()
    runner = Runner.from_cfg(
        _cfg(demo_data_root, str(tmp_path), 4, LOW_THRESHOLDS))
    runner.register_hook(probe)
    runner.train()
    assert runner.iter == 4
    records = _scalars(runner)
    classes = list(runner.train_dataloader.dataset.metainfo['classes'])
    names = classes + ['background']

    # per-class GbR scalars every log_interval (2): steps 2 and 4
    steps = sorted(r['step'] for r in records
                   if f'gbr/pos_grad/{classes[0]}' in r)
    assert steps == [2, 4], steps
    for step in steps:
        row = [r for r in records
               if r['step'] == step and f'gbr/pos_grad/{classes[0]}' in r][0]
        G, w = probe.states[step]['G'], probe.states[step]['w']
        C = len(names)
        assert G.shape == (C, C)
        for i, c in enumerate(names):
            pos = -float(G[i, i])
            neg = sum(float(G[k, i]) for k in range(C) if k != i)
            assert row[f'gbr/pos_grad/{c}'] == pytest.approx(pos, rel=1e-6,
                                                             abs=1e-12)
            assert row[f'gbr/neg_grad/{c}'] == pytest.approx(neg, rel=1e-5,
                                                             abs=1e-9)
            assert row[f'gbr/weight/{c}'] == pytest.approx(float(w[i]))
        assert max(row[f'gbr/pos_grad/{c}'] for c in classes) > 0

    # group means through the message hub (LoggerHook, interval 1)
    groups = runner.cfg.val_evaluator.class_groups
    G = probe.states[4]['G']
    for group, members in groups.items():
        row = _last(records, f'gbr/grad_{group}')
        assert row['step'] == 4
        expected = sum(-float(G[classes.index(c), classes.index(c)])
                       for c in members) / len(members)
        assert row[f'gbr/grad_{group}'] == pytest.approx(expected, rel=1e-6,
                                                         abs=1e-12)

    # pseudo labels of every iteration, in that iteration's log line
    assert sum(k for k, _, _ in probe.pseudo.values()) > 0
    for step, (kept, images, candidates) in probe.pseudo.items():
        (row, ) = [r for r in records
                   if r['step'] == step and 'pseudo/per_image' in r]
        assert images > 0
        assert row['pseudo/kept'] == kept
        assert row['pseudo/per_image'] == pytest.approx(kept / images)
        assert row['pseudo/candidates'] == candidates >= kept
    # CrS: first factor update at iteration 3 (warm-up 1, interval 2)
    ((step, (share, fmax)), ) = probe.crs.items()
    assert step == 3
    (row, ) = [r for r in records
               if r['step'] == 3 and 'crs/repeated_share' in r]
    assert row['crs/repeated_share'] == pytest.approx(share)
    assert row['crs/image_factor_max'] == pytest.approx(fmax)

    text = _log_text(runner)
    assert 'gbr/top: ' in text
    top = text.split('gbr/top: ')[-1].splitlines()[0].split(', ')
    assert len(top) == 3
    w = probe.states[4]['w'][:-1]
    expected_top = [classes[i] for i in torch.topk(w, 3).indices.tolist()]
    assert [t.rsplit(' ', 1)[0] for t in top] == expected_top
    assert 'crs/repeated_share' in text


def test_warns_without_pseudo_labels(demo_data_root, tmp_path):
    runner = Runner.from_cfg(
        _cfg(demo_data_root, str(tmp_path), 3, HIGH_THRESHOLDS,
             warn_after=2))
    runner.train()
    model = runner.model
    assert int(model.pseudo_label_counts.sum()) == 0
    text = _log_text(runner)
    # once per streak: at iteration 2, not again at 3
    assert text.count('No pseudo labels: no kept pseudo box for') == 1, text
    assert 'for 2 consecutive iterations' in text
    assert 'lower the thresholds' in text and 'load_from' in text


def test_unknown_class_group_names():
    from cissod.engine.hooks.gbr_telemetry import (
        evaluator_class_groups,
        group_indices,
    )
    classes = ('a', 'b', 'c')
    with pytest.raises(ValueError, match=r"\['x', 'y'\]"):
        group_indices(dict(majority=['a', 'x'], minority=['c', 'y']),
                      classes, 'GradientBalanceHook.class_groups')
    # from the val_evaluator when the hook has none
    cfg = Config(dict(val_evaluator=dict(
        type='GroupCocoMetric', class_groups=dict(majority=['b', 'a'],
                                                  minority=['z']))))
    with pytest.raises(ValueError, match='val_evaluator.class_groups'):
        group_indices(evaluator_class_groups(cfg), classes,
                      'val_evaluator.class_groups')
    cfg.val_evaluator.class_groups.minority = ['c']
    assert group_indices(evaluator_class_groups(cfg), classes,
                         'val_evaluator.class_groups') == dict(
                             majority=[0, 1], minority=[2])
    assert evaluator_class_groups(Config()) is None
    assert group_indices(None, classes, 'x') == {}
