"""Test-only hook: every rank dumps its CISSOD state after training.

Imported by the config that tests/test_distributed.py launches with
torchrun (``custom_imports``); writes ``<work_dir>/rank<r>_state.pt``.
"""
import os.path as osp

import torch
from mmdet.registry import HOOKS
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from cissod.engine.hooks import ClassRebalancingHook
from cissod.models.losses import gbr_losses_of


@HOOKS.register_module()
class DistStateProbe(Hook):
    """Saves the per-rank GbR / GbT / CrS state and the images drawn."""
    priority = 'VERY_LOW'

    def __init__(self):
        self.img_ids = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        samples = data_batch['data_samples']
        self.img_ids.append(sorted(
            int(s.metainfo['img_id']) for branch in ('sup', 'unsup_teacher')
            for s in samples[branch] if s is not None))

    def after_train(self, runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        (gbr_loss, ) = gbr_losses_of(model).values()
        balancer = gbr_loss.balancer
        (crs, ) = [h for h in runner.hooks
                   if isinstance(h, ClassRebalancingHook)]
        state = dict(
            gbr_weights=balancer.weights.clone(),
            gbr_matrix=balancer.gradient_matrix.clone(),
            gbr_updates=balancer.num_updates,
            thresholds=model.current_class_thresholds().clone(),
            score_means=model.class_thresholds.state_dict(),
            pseudo_label_counts=model.pseudo_label_counts.clone(),
            pool=crs.rebalancer.pool.state_dict(),
            class_factors=crs.rebalancer.class_factors,
            sampler_weights=crs.sampler.weights(crs.sampler.crs_source),
            img_ids=self.img_ids)
        torch.save(state,
                   osp.join(runner.work_dir, f'rank{get_rank()}_state.pt'))
