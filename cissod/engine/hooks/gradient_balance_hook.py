"""Where the GbR class weights are *updated*: once per training iteration.

``GradientBalanceHook`` drives every :class:`GradientBalancedLoss` of the
model being trained:

* ``before_train``: finds the losses' balancers (the EMA teacher's copies
  are skipped) and, for a semi-supervised detector, wraps its loss methods
  in :func:`~cissod.models.losses.gbr_branch` blocks so that labeled and
  unlabeled RoI-classification losses record into their own branch with
  their loss weight (``sup_weight`` / ``unsup_weight`` of
  ``semi_train_cfg``) and Soft Teacher's regression-only pass records
  nothing. No detector code is needed. Detectors that set their branches
  themselves (``sets_gbr_branches = True``, e.g. ``CISSODSoftTeacher``) are
  left as they are.
* ``after_train_iter``: sums the iteration's gradient statistics over all
  ranks (one ``all_reduce``), updates the accumulated G-hat (running mean
  in the warm-up, then EMA) and re-solves the weights.
* logs a compact summary (weight range, background weight, balance
  residual) through the message hub every iteration and the per-class
  weights through the visualizer (JSON / TensorBoard) every
  ``log_interval`` iterations.

All GbR state lives in module buffers/parameters, so mmengine's checkpoints
save it and ``--resume`` restores it with no hook state of its own.
"""
from typing import Dict, Optional, Sequence

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

from ...models.balancers import GradientBalancer
from ...models.losses import find_balancers, install_branch_wrappers

#: Methods of mmdet's semi-supervised detectors and the branch their
#: RoI-classification losses belong to (None: record nothing).
SEMI_BRANCH_METHODS: Dict[str, Optional[str]] = dict(
    loss_by_gt_instances='labeled',
    loss_by_pseudo_instances='unlabeled',
    rcnn_reg_loss_by_pseudo_instances=None,
)


def _sum_across_ranks(flat: torch.Tensor) -> torch.Tensor:
    all_reduce(flat, op='sum')
    return flat


@HOOKS.register_module()
class GradientBalanceHook(Hook):
    """Update, synchronise and log the GbR class weights.

    Args:
        branch_methods (dict[str, str | None], optional): detector method
            name -> GbR branch, for semi-supervised detectors. Defaults to
            :data:`SEMI_BRANCH_METHODS` (mmdet's ``SemiBaseDetector`` and
            ``SoftTeacher``).
        log_interval (int): iterations between per-class weight logs.
        log_per_class (bool): log every class's weight to the visualizer.
    """

    priority = 'NORMAL'

    def __init__(self,
                 branch_methods: Optional[Dict[str, Optional[str]]] = None,
                 log_interval: int = 50,
                 log_per_class: bool = True) -> None:
        self.branch_methods = dict(SEMI_BRANCH_METHODS if branch_methods is
                                   None else branch_methods)
        self.log_interval = log_interval
        self.log_per_class = log_per_class
        self.balancers: Dict[str, GradientBalancer] = {}
        self.class_names: Sequence[str] = ()

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        self.balancers = find_balancers(model)
        if not self.balancers:
            raise RuntimeError(
                'GradientBalanceHook found no GradientBalancedLoss in the '
                'model: set roi_head.bbox_head.loss_cls=dict(type='
                "'GradientBalancedLoss', num_classes=...) or remove the hook.")
        semi_cfg = getattr(model, 'semi_train_cfg', None)
        if semi_cfg is not None and not getattr(model, 'sets_gbr_branches',
                                                False):
            weights = dict(
                labeled=float(semi_cfg.get('sup_weight', 1.0)),
                unlabeled=float(semi_cfg.get('unsup_weight', 1.0)))
            wrapped = install_branch_wrappers(model, self.branch_methods,
                                              weights)
            runner.logger.info(f'GbR branches: {wrapped}, loss weights '
                               f'{weights}')
        dataset = runner.train_dataloader.dataset
        classes = tuple(dataset.metainfo.get('classes', ()))
        for name, balancer in self.balancers.items():
            if classes and len(classes) != balancer.num_classes:
                raise ValueError(
                    f'{name}: GradientBalancedLoss num_classes='
                    f'{balancer.num_classes} but the training dataset has '
                    f'{len(classes)} classes; set num_classes='
                    f'{len(classes)}.')
        self.class_names = classes + ('background', )
        runner.logger.info(
            f'GbR balancers: {list(self.balancers)} (resumed at '
            f'{[b.num_updates for b in self.balancers.values()]} updates)')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        reduce_fn = _sum_across_ranks if get_world_size() > 1 else None
        for balancer in self.balancers.values():
            balancer.step(reduce_fn)
        self._log(runner)

    def _log(self, runner) -> None:
        multi = len(self.balancers) > 1
        every = self.every_n_train_iters(runner, self.log_interval)
        for name, balancer in self.balancers.items():
            tag = f'gbr/{name}/' if multi else 'gbr/'
            if balancer.in_warmup and not every:
                continue
            summary = balancer.summary()
            for key in ('weight_min', 'weight_max', 'weight_bg',
                        'balance_residual', 'num_skipped'):
                runner.message_hub.update_scalar(f'train/{tag}{key}',
                                                 summary[key])
            if every and self.log_per_class:
                w = balancer.weights.tolist()
                runner.visualizer.add_scalars(
                    {f'{tag}weight/{c}': v
                     for c, v in zip(self.class_names, w)},
                    step=runner.iter + 1)
