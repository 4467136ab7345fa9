"""Where the GbR class weights are *updated*: once per training iteration.

``GradientBalanceHook`` drives every :class:`GradientBalancedLoss` of the
model being trained:

* ``before_train``: takes the balancers of the losses at their attribute
  paths (:func:`~cissod.models.losses.gbr_losses_of`: the student's, not
  the EMA teacher's copies) and checks the class count. A semi-supervised
  detector must set the GbR branches itself
  (:class:`~cissod.models.GbRBranchesMixin`: ``GbRSoftTeacher``,
  ``CISSODSoftTeacher``); one without them is refused,
  since its unlabeled RoIs would be recorded as labeled.
* ``after_train_iter``: sums the iteration's gradient statistics over all
  ranks (one ``all_reduce``), updates the accumulated G-hat (running mean
  in the warm-up, then EMA) and re-solves the weights.
* logs (after the warm-up every iteration, in the warm-up every
  ``log_interval`` iterations) a compact summary through the message hub,
  i.e. the text log and, via mmengine's ``LoggerHook``, the visualizer:
  ``gbr/weight_min``, ``gbr/weight_max``, ``gbr/weight_bg``,
  ``gbr/balance_residual``, ``gbr/num_skipped`` and, per class group,
  ``gbr/grad_<group>`` (mean positive gradient ``P_i`` of the group's
  classes in the accumulated G-hat, e.g. ``gbr/grad_majority`` /
  ``gbr/grad_minority``).
* every ``log_interval`` iterations, per class through the visualizer
  (JSON ``vis_data/scalars.json`` / TensorBoard), from the accumulated
  G-hat: ``gbr/weight/<class>`` (``w_i``), ``gbr/pos_grad/<class>``
  (``P_i = -G[i, i]``) and ``gbr/neg_grad/<class>`` (the *unweighted*
  negative gradient the other classes push onto class i,
  ``sum_{k != i} N[k, i]``); after the warm-up also a text line
  ``gbr/top: <class> <w>, ...`` with the three most up-weighted foreground
  classes. With several balancers every name gets the balancer's name,
  ``gbr/<name>/...``.

All GbR state lives in module buffers/parameters, so mmengine's checkpoints
save it and ``--resume`` restores it with no hook state of its own.
"""
from typing import Dict, List, Optional, Sequence

import torch
from mmdet.models.detectors import SemiBaseDetector
from mmdet.registry import HOOKS
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook

from cissod_core.class_groups import resolve_class_groups
from cissod_core.gbr import (
    GradientBalancer,
    negative_inflow,
    positive_gradients,
)

from ...models.detectors import GbRBranchesMixin
from ...models.losses import gbr_losses_of
from .runner_access import unwrap_model


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
        self.group_indices: Dict[str, List[int]] = {}
        self.log_interval = log_interval
        self.log_per_class = log_per_class
        self.balancers: Dict[str, GradientBalancer] = {}
        self.class_names: Sequence[str] = ()

    def before_train(self, runner) -> None:
        model = unwrap_model(runner)
        self.balancers = {f'{name}.balancer': loss.balancer
                          for name, loss in gbr_losses_of(model).items()}
        if not self.balancers:
            raise RuntimeError(
                'GradientBalanceHook found no GradientBalancedLoss in the '
                'model: set roi_head.bbox_head.loss_cls=dict(type='
                "'GradientBalancedLoss', num_classes=...) (a dense head: "
                "bbox_head.loss_cls=dict(type='GradientBalancedFocalLoss', "
                'num_classes=...)) or remove the hook.')
        if (isinstance(model, SemiBaseDetector)
                and not isinstance(model, GbRBranchesMixin)):
            raise TypeError(
                f'GradientBalanceHook: {type(model).__name__} does not set '
                'the GbR branches, so its unlabeled RoIs would be recorded '
                "as labeled: use type='GbRSoftTeacher' instead of "
                "'SoftTeacher' (or CISSODSoftTeacher), or mix "
                'cissod.models.GbRBranchesMixin into your detector.')
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
        self.group_indices = self._resolve_groups(runner, classes)
        runner.logger.info(
            f'GbR balancers: {list(self.balancers)} (resumed at '
            f'{[b.num_updates for b in self.balancers.values()]} updates)')

    def _resolve_groups(self, runner,
                        classes: Sequence[str]) -> Dict[str, List[int]]:
        """Group name -> class indices, from ``class_groups`` or the
        ``val_evaluator``'s ``class_groups``."""
        groups, source = self.class_groups, 'GradientBalanceHook.class_groups'
        if groups is None:
            groups = _evaluator_class_groups(getattr(runner, 'cfg', None))
            source = 'val_evaluator.class_groups'
        if not groups:
            return {}
        resolved = resolve_class_groups(
            groups, classes, source, 'classes of the training dataset')
        return {g: sorted(idx) for g, idx in resolved.items() if idx}

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
        hub = runner.message_hub
        for name, balancer in self.balancers.items():
            tag = f'gbr/{name}/' if multi else 'gbr/'
            if balancer.in_warmup and not every:
                continue
            summary = balancer.summary()
            for key in ('weight_min', 'weight_max', 'weight_bg',
                        'balance_residual', 'num_skipped'):
                hub.update_scalar(f'train/{tag}{key}', summary[key])
            if balancer.num_updates == 0:
                continue  # no G-hat yet
            G = balancer.gradient_matrix
            pos = positive_gradients(G).double().cpu()
            for group, idx in self.group_indices.items():
                hub.update_scalar(f'train/{tag}grad_{group}',
                                  float(pos[idx].mean()))
            if not every:
                continue
            w = balancer.weights.double().cpu()
            if self.log_per_class:
                neg = negative_inflow(G, torch.ones_like(
                    G[0])).double().cpu()
                scalars = {}
                for key, values in (('weight', w), ('pos_grad', pos),
                                    ('neg_grad', neg)):
                    scalars.update({
                        f'{tag}{key}/{c}': float(v)
                        for c, v in zip(self.class_names, values)
                    })
                runner.visualizer.add_scalars(scalars, step=runner.iter + 1)
            if self.top_k > 0 and not balancer.in_warmup:
                fg = w[:-1]
                k = min(self.top_k, fg.numel())
                top = torch.topk(fg, k).indices.tolist()
                text = ', '.join(f'{self.class_names[i]} {float(fg[i]):.3g}'
                                 for i in top)
                runner.logger.info(f'{tag}top: {text}')


def _evaluator_class_groups(cfg) -> Optional[dict]:
    """``class_groups`` of the config's ``val_evaluator`` (a dict or the
    first of a list that has them), or None."""
    if cfg is None:
        return None
    evaluator = cfg.get('val_evaluator', None)
    candidates = evaluator if isinstance(evaluator, (list, tuple)) else [
        evaluator
    ]
    for ev in candidates:
        if isinstance(ev, dict) and ev.get('class_groups'):
            return dict(ev['class_groups'])
    return None
