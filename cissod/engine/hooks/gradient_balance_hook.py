"""Where the GbR class weights are *updated*: once per training iteration.

``GradientBalanceHook`` drives every :class:`GradientBalancedLoss` of the
model being trained:

* ``before_train``: takes the balancers of the detector's GbR losses
  (:func:`.runner_access.gbr_balancers`, which refuses a semi-supervised
  detector that does not set the GbR branches) and checks the class
  count.
* ``after_train_iter``: sums the iteration's gradient statistics over all
  ranks (one ``all_reduce``), updates the accumulated G-hat (running mean
  in the warm-up, then EMA) and re-solves the weights.
* logs the balancer through :class:`.gbr_telemetry.GbRTelemetry` (the
  scalars and lines are listed there).

All GbR state lives in module buffers/parameters, so mmengine's checkpoints
save it and ``--resume`` restores it with no hook state of its own.
"""
from typing import Dict, Optional, Sequence

import torch
from mmdet.registry import HOOKS
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook

from cissod_core.gbr import GradientBalancer

from .gbr_telemetry import GbRTelemetry, evaluator_class_groups, group_indices
from .runner_access import gbr_balancers


def _sum_across_ranks(flat: torch.Tensor) -> torch.Tensor:
    all_reduce(flat, op='sum')
    return flat


@HOOKS.register_module()
class GradientBalanceHook(Hook):
    """Update, synchronise and log the GbR class weights.

    Args:
        log_interval (int): iterations between per-class logs (and the
            ``gbr/top`` line).
        log_per_class (bool): log every class's weight and gradients to the
            visualizer.
        class_groups (dict[str, list[str]], optional): group name -> class
            names, for the ``gbr/grad_<group>`` scalars. When None, the
            ``class_groups`` of ``val_evaluator`` (``GroupCocoMetric``) are
            used if the config has them. Class names that are not classes
            of the training dataset raise a ValueError.
        top_k (int): number of most up-weighted classes in the ``gbr/top``
            text line (0: no line).
    """

    priority = 'NORMAL'

    def __init__(self,
                 log_interval: int = 50,
                 log_per_class: bool = True,
                 class_groups: Optional[Dict[str, Sequence[str]]] = None,
                 top_k: int = 3) -> None:
        if class_groups is not None and not isinstance(class_groups, dict):
            raise TypeError('class_groups must be a dict of group name -> '
                            f'class names, got {type(class_groups).__name__}')
        self.class_groups = None if class_groups is None else {
            str(k): [str(c) for c in v]
            for k, v in class_groups.items()
        }
        self.top_k = int(top_k)
        self.log_interval = log_interval
        self.log_per_class = log_per_class
        self.balancers: Dict[str, GradientBalancer] = {}
        self.telemetry: Optional[GbRTelemetry] = None

    def before_train(self, runner) -> None:
        self.balancers = gbr_balancers(runner)
        dataset = runner.train_dataloader.dataset
        classes = tuple(dataset.metainfo.get('classes', ()))
        for name, balancer in self.balancers.items():
            if classes and len(classes) != balancer.num_classes:
                raise ValueError(
                    f'{name}: GradientBalancedLoss num_classes='
                    f'{balancer.num_classes} but the training dataset has '
                    f'{len(classes)} classes; set num_classes='
                    f'{len(classes)}.')
        groups, source = self.class_groups, 'GradientBalanceHook.class_groups'
        if groups is None:  # the groups the evaluator reports AP over
            groups = evaluator_class_groups(getattr(runner, 'cfg', None))
            source = 'val_evaluator.class_groups'
        self.telemetry = GbRTelemetry(
            classes + ('background', ), group_indices(groups, classes, source),
            self.log_per_class, self.top_k)
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
        every = self.every_n_train_iters(runner, self.log_interval)
        multi = len(self.balancers) > 1
        for name, balancer in self.balancers.items():
            self.telemetry.log(runner, balancer,
                               f'gbr/{name}/' if multi else 'gbr/', every)
