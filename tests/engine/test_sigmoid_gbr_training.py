"""Two CPU iterations of the sigmoid-GbR configs (RetinaNet, FCOS, ATSS).

The stock mmdet configs with ``GradientBalancedFocalLoss`` as ``loss_cls``
run on a small generated copy of the demo data, without pretrained weights.
"""
import math
import os.path as osp

import pytest
import torch
from conftest import REPO, demo_cfg
from mmengine.config import Config
from test_training import LossRecorder, _demo_data_overrides, _train, _unwrap

from cissod.models.losses import GradientBalancedFocalLoss, gbr_losses_of
from cissod.utils import check_config

CONFIGS = [
    'configs/gbr/retinanet_r50_fpn_gbr_1x_coco.py',
    'configs/gbr/fcos_r50-caffe_fpn_gn-head_gbr_1x_coco.py',
    'configs/gbr/atss_r50_fpn_gbr_1x_coco.py',
]


@pytest.mark.parametrize('config', CONFIGS)
def test_dense_head_config_with_sigmoid_gbr_runs(config, demo_data_root,
                                                 tmp_path):
    cfg = Config.fromfile(osp.join(REPO, config))
    assert cfg.model.bbox_head.loss_cls.type == 'GradientBalancedFocalLoss'
    assert cfg.custom_hooks == [dict(type='GradientBalanceHook')]
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
        sampler=dict(type='DefaultSampler', shuffle=True), dataset=labeled)
    cfg.work_dir = str(tmp_path)
    cfg.model.backbone.init_cfg = None  # no download
    cfg.model.bbox_head.num_classes = 8
    cfg.model.bbox_head.loss_cls.num_classes = 8
    cfg.model.bbox_head.loss_cls.warmup_iters = 1
    check_config(cfg)
    recorder = LossRecorder()
    runner = _train(cfg, recorder)
    assert len(recorder.losses) == 2
    assert all(math.isfinite(v) for v in recorder.losses), recorder.losses
    model = _unwrap(runner)
    assert isinstance(model.bbox_head.loss_cls, GradientBalancedFocalLoss)
    (gbr_loss, ) = gbr_losses_of(model).values()
    balancer = gbr_loss.balancer
    assert balancer.classifier == 'sigmoid'
    assert balancer.num_updates == 2 and not balancer.in_warmup
    G = balancer.gradient_matrix.double()
    # every row sums to zero; background samples push negative gradient
    # onto every foreground logit; some class has positive gradient
    assert G.sum(1).abs().max() <= 1e-4 * G.abs().max()
    assert (G[-1, :-1] > 0).all()
    assert (-G.diagonal()[:-1]).max() > 0
    assert torch.isfinite(balancer.weights).all()
