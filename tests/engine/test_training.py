"""End-to-end CPU runs of the demo and GbR configs (a few iterations each).

Each test trains for a handful of iterations on a small generated copy of
the demo data; nothing is downloaded (no pretrained weights).
"""
import copy
import glob
import json
import math
import os.path as osp
import subprocess
import sys
from typing import List

import pytest
import torch
from conftest import REPO, demo_cfg, set_data_root
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from cissod.models.losses import GradientBalancedLoss, gbr_losses_of
from cissod.utils import check_config, load_checkpoint_file
from cissod_core.gbr import GradientBalancer


class LossRecorder(Hook):
    """Keeps the total loss of every training iteration."""
    priority = 'VERY_LOW'

    def __init__(self):
        self.losses: List[float] = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.losses.append(float(outputs['loss']))


def _train(cfg: Config, *hooks: Hook) -> Runner:
    runner = Runner.from_cfg(cfg)
    for hook in hooks:
        runner.register_hook(hook)
    runner.train()
    return runner


def _unwrap(runner: Runner):
    return runner.model.module if hasattr(runner.model, 'module') \
        else runner.model


def test_demo_soft_teacher_loss_finite_and_decreasing(demo_data_root,
                                                      tmp_path):
    cfg = demo_cfg('configs/demo/soft_teacher_demo.py', demo_data_root,
                   str(tmp_path), max_iters=12)
    # constant learning rate: the demo's warm-up would hide the decrease
    cfg.param_scheduler = []
    recorder = LossRecorder()
    _train(cfg, recorder)
    losses = recorder.losses
    assert len(losses) == 12
    assert all(math.isfinite(v) for v in losses), losses
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < first, f'loss did not decrease: {losses}'


def test_tools_test_on_saved_checkpoint(demo_data_root, tmp_path):
    cfg = demo_cfg('configs/demo/soft_teacher_demo.py', demo_data_root,
                   str(tmp_path / 'train'), max_iters=2)
    _train(cfg)
    ckpt = tmp_path / 'train' / 'iter_2.pth'
    assert ckpt.is_file()
    cfg_file = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_file))
    out_pkl = tmp_path / 'preds.pkl'
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/test.py'), str(cfg_file),
         str(ckpt), '--work-dir', str(tmp_path / 'test'), '--out',
         str(out_pkl)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out_pkl.is_file()
    jsons = glob.glob(str(tmp_path / 'test' / '*' / '*.json'))
    metrics = {}
    for path in jsons:
        with open(path) as f:
            metrics.update(json.load(f))
    for key in ('coco/bbox_mAP', 'coco/bbox_majority_mAP',
                'coco/bbox_minority_mAP'):
        assert key in metrics, (key, sorted(metrics))
        assert -1 <= metrics[key] <= 1


def test_gbr_demo_records_each_branch_once_per_iteration(
        demo_data_root, tmp_path, monkeypatch):
    records, loss_calls = [], []
    original_record = GradientBalancer.record
    original_forward = GradientBalancedLoss.forward

    def spy_record(self, logits, labels, label_weights=None,
                   branch='labeled', loss_weight=1.0, **kwargs):
        records.append((branch, loss_weight))
        return original_record(self, logits, labels, label_weights, branch,
                               loss_weight, **kwargs)

    def spy_forward(self, *args, **kwargs):
        loss_calls.append(self.branch.name)
        return original_forward(self, *args, **kwargs)

    monkeypatch.setattr(GradientBalancer, 'record', spy_record)
    monkeypatch.setattr(GradientBalancedLoss, 'forward', spy_forward)
    cfg = demo_cfg('configs/demo/soft_teacher_gbr_demo.py', demo_data_root,
                   str(tmp_path), max_iters=3,
                   **{'model.semi_train_cfg.unsup_weight': 4.0})
    runner = _train(cfg)
    recorded = [(b, w) for b, w in records if b is not None]
    assert recorded == [('labeled', 1.0), ('unlabeled', 4.0)] * 3, records
    # SoftTeacher's regression-only pass calls the loss and records nothing
    assert loss_calls == ['labeled', 'unlabeled', None] * 3, loss_calls
    losses = gbr_losses_of(_unwrap(runner))
    assert list(losses) == ['student.roi_head.bbox_head.loss_cls']
    assert losses['student.roi_head.bbox_head.loss_cls'].balancer \
        .num_updates == 3


def _demo_data_overrides(cfg: Config, demo: Config) -> None:
    """Replace the data settings of a COCO config with the demo's."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader',
                'val_evaluator', 'test_evaluator'):
        cfg[key] = demo[key]
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2,
                         val_interval=10**6)
    cfg.param_scheduler = []
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=2,
                                        by_epoch=False)
    cfg.log_level = 'WARNING'


def _small_r50(backbone: dict) -> None:
    backbone.init_cfg = None  # no download


def test_stock_soft_teacher_config_with_gbr_runs(demo_data_root, tmp_path):
    cfg = Config.fromfile(osp.join(
        REPO, 'configs/gbr/soft-teacher_faster-rcnn_r50-caffe_fpn_180k_'
        'semi-0.1-coco_gbr.py'))
    demo = demo_cfg('configs/demo/soft_teacher_demo.py', demo_data_root,
                    str(tmp_path))
    _demo_data_overrides(cfg, demo)
    cfg.work_dir = str(tmp_path)
    det = cfg.model.detector
    _small_r50(det.backbone)
    det.roi_head.bbox_head.num_classes = 8
    det.roi_head.bbox_head.loss_cls.num_classes = 8
    det.roi_head.bbox_head.loss_cls.warmup_iters = 1
    check_config(cfg)
    recorder = LossRecorder()
    runner = _train(cfg, recorder)
    assert all(math.isfinite(v) for v in recorder.losses)
    (gbr_loss, ) = gbr_losses_of(_unwrap(runner)).values()
    balancer = gbr_loss.balancer
    assert balancer.num_updates == 2 and not balancer.in_warmup
    assert torch.isfinite(balancer.weights).all()


def test_supervised_faster_rcnn_config_with_gbr_runs(demo_data_root,
                                                     tmp_path):
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/gbr/faster-rcnn_r50_fpn_gbr_1x_coco.py'))
    demo = demo_cfg('configs/demo/soft_teacher_demo.py', demo_data_root,
                    str(tmp_path))
    labeled = demo.train_dataloader.dataset.datasets[0]
    labeled.pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Resize', scale=(128, 128), keep_ratio=True),
        dict(type='PackDetInputs')
    ]
    _demo_data_overrides(cfg, demo)
    cfg.train_dataloader = dict(
        batch_size=2, num_workers=0, persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=True),
        dataset=labeled)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2,
                         val_interval=10**6)
    cfg.work_dir = str(tmp_path)
    _small_r50(cfg.model.backbone)
    cfg.model.roi_head.bbox_head.num_classes = 8
    cfg.model.roi_head.bbox_head.loss_cls.num_classes = 8
    cfg.model.roi_head.bbox_head.loss_cls.warmup_iters = 1
    check_config(cfg)
    recorder = LossRecorder()
    runner = _train(cfg, recorder)
    assert len(recorder.losses) == 2
    assert all(math.isfinite(v) for v in recorder.losses)
    (gbr_loss, ) = gbr_losses_of(_unwrap(runner)).values()
    balancer = gbr_loss.balancer
    assert balancer.num_updates == 2


class StateProbe(Hook):
    """Copies the balancer state seen before the first iteration it runs."""

    def __init__(self):
        self.state = None

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self.state is None:
            (gbr_loss, ) = gbr_losses_of(_unwrap(runner)).values()
            balancer = gbr_loss.balancer
            self.state = {k: v.clone()
                          for k, v in balancer.state_dict().items()}


def test_resume_restores_gbr_state(demo_data_root, tmp_path):
    prefix = 'student.roi_head.bbox_head.loss_cls.balancer.'
    overrides = {
        'model.detector.roi_head.bbox_head.loss_cls.warmup_iters': 1,
        'default_hooks.checkpoint.interval': 2,
        'default_hooks.checkpoint.max_keep_ckpts': 3,
    }
    cfg = demo_cfg('configs/demo/soft_teacher_gbr_demo.py', demo_data_root,
                   str(tmp_path), max_iters=3, **overrides)
    _train(cfg)
    ckpt = load_checkpoint_file(str(tmp_path / 'iter_2.pth'))
    saved = {k[len(prefix):]: v for k, v in ckpt['state_dict'].items()
             if k.startswith(prefix)}
    assert saved['grad_matrix.count'].item() == 2
    assert not torch.all(saved['solver.weights'] == 1)  # solved after warm-up

    cfg = demo_cfg('configs/demo/soft_teacher_gbr_demo.py', demo_data_root,
                   str(tmp_path), max_iters=3, **overrides)
    cfg.resume = True
    cfg.load_from = str(tmp_path / 'iter_2.pth')
    probe = StateProbe()
    runner = _train(cfg, probe)
    assert runner.iter == 3
    assert probe.state.keys() == saved.keys()
    for key, value in saved.items():
        assert torch.equal(probe.state[key], value), key
    (gbr_loss, ) = gbr_losses_of(_unwrap(runner)).values()
    balancer = gbr_loss.balancer
    assert balancer.num_updates == 3


def test_check_config_reports_bad_input(demo_data_root, tmp_path):
    cfg = demo_cfg('configs/demo/soft_teacher_demo.py', demo_data_root,
                   str(tmp_path))
    check_config(cfg, modes=('train', 'val', 'test'))

    bad = copy.deepcopy(cfg)
    bad.model.detector.roi_head.bbox_head.num_classes = 5
    with pytest.raises(ValueError, match='num_classes=8'):
        check_config(bad)

    bad = copy.deepcopy(cfg)
    set_data_root(bad, str(tmp_path / 'nowhere') + '/')
    with pytest.raises(FileNotFoundError, match='does not exist'):
        check_config(bad)

    bad = copy.deepcopy(cfg)
    bad.val_dataloader.dataset.metainfo = dict(
        classes=('red_circle', 'purple_blob'))
    with pytest.raises(ValueError, match='purple_blob'):
        check_config(bad, modes=('val', ))


def test_gbr_hook_refuses_a_detector_without_gbr_branches(demo_data_root,
                                                          tmp_path):
    """mmdet's stock SoftTeacher does not set the GbR branches: the hook
    says so and names the fix, instead of recording unlabeled RoIs as
    labeled."""
    cfg = demo_cfg('configs/demo/soft_teacher_gbr_demo.py', demo_data_root,
                   str(tmp_path), max_iters=1)
    cfg.model.type = 'SoftTeacher'
    runner = Runner.from_cfg(cfg)
    with pytest.raises(TypeError, match="type='GbRSoftTeacher'"):
        runner.train()


def test_gbr_solvers_registry():
    from cissod.registry import GBR_SOLVERS
    from cissod_core.gbr import DirectSolver, JacobiSolver, PowerSolver
    assert {k: GBR_SOLVERS.get(k) for k in ('power', 'direct', 'jacobi')} \
        == dict(power=PowerSolver, direct=DirectSolver, jacobi=JacobiSolver)
    loss = GradientBalancedLoss(3, solver=dict(type='power', max_iter=7),
                                weight_bounds=(0.5, 2.0))
    solver = loss.balancer.solver
    assert isinstance(solver, PowerSolver) and solver.max_iter == 7
    assert solver.num_outputs == 4  # defaults from the balancer
    assert isinstance(GradientBalancedLoss(3).balancer.solver, PowerSolver)
    with pytest.raises(KeyError, match='nope'):
        GradientBalancedLoss(3, solver=dict(type='nope'))
