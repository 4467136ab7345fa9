"""What ``GradientBalanceHook`` logs about a balancer, each iteration.

Through the message hub (text log and, via mmengine's ``LoggerHook``, the
visualizer), after the GbR warm-up every iteration, in the warm-up every
``log_interval`` iterations: ``gbr/weight_min``, ``gbr/weight_max``,
``gbr/weight_bg``, ``gbr/balance_residual``, ``gbr/num_skipped`` and, per
class group, ``gbr/grad_<group>`` (mean positive gradient ``P_i`` of the
group's classes in the accumulated G-hat, e.g. ``gbr/grad_majority``).

Every ``log_interval`` iterations, per class through the visualizer (JSON
``vis_data/scalars.json`` / TensorBoard), from G-hat: ``gbr/weight/<class>``
(``w_i``), ``gbr/pos_grad/<class>`` (``P_i = -G[i, i]``) and
``gbr/neg_grad/<class>`` (the unweighted negative gradient the other
classes push onto class i, ``sum_{k != i} N[k, i]``); after the warm-up
also a text line ``gbr/top: <class> <w>, ...`` with the most up-weighted
foreground classes. With several balancers (a cascade) every name gets
the balancer's name, ``gbr/<name>/...``.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch

from cissod_core.class_groups import resolve_class_groups
from cissod_core.gbr import (
    GradientBalancer,
    negative_inflow,
    positive_gradients,
)

__all__ = ['GbRTelemetry', 'group_indices', 'evaluator_class_groups']

SUMMARY_KEYS = ('weight_min', 'weight_max', 'weight_bg', 'balance_residual',
                'num_skipped')


def evaluator_class_groups(cfg) -> Optional[dict]:
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


def group_indices(groups: Optional[dict], classes: Sequence[str],
                  source: str) -> Dict[str, List[int]]:
    """Group name -> sorted class indices (groups without a class of the
    training dataset are left out); unknown names raise ValueError."""
    if not groups:
        return {}
    resolved = resolve_class_groups(groups, classes, source,
                                    'classes of the training dataset')
    return {g: sorted(idx) for g, idx in resolved.items() if idx}


@dataclass
class GbRTelemetry:
    """The scalars and lines of one balancer (module docstring).

    Attributes:
        class_names: the classes, background last (``n + 1``).
        groups: group name -> class indices, for ``gbr/grad_<group>``.
        log_per_class: log every class's weight and gradients.
        top_k: classes in the ``gbr/top`` line (0: no line).
    """
    class_names: Sequence[str]
    groups: Dict[str, List[int]]
    log_per_class: bool = True
    top_k: int = 3

    def log(self, runner, balancer: GradientBalancer, tag: str,
            every: bool) -> None:
        """Log ``balancer`` under ``tag`` (``'gbr/'``); ``every``: this is a
        ``log_interval`` iteration."""
        if balancer.in_warmup and not every:
            return
        hub = runner.message_hub
        summary = balancer.summary()
        for key in SUMMARY_KEYS:
            hub.update_scalar(f'train/{tag}{key}', summary[key])
        if balancer.num_updates == 0:
            return  # no G-hat yet
        G = balancer.gradient_matrix
        pos = positive_gradients(G).double().cpu()
        for group, idx in self.groups.items():
            hub.update_scalar(f'train/{tag}grad_{group}',
                              float(pos[idx].mean()))
        if not every:
            return
        w = balancer.weights.double().cpu()
        if self.log_per_class:
            neg = negative_inflow(G, torch.ones_like(G[0])).double().cpu()
            scalars = {
                f'{tag}{key}/{c}': float(v)
                for key, values in (('weight', w), ('pos_grad', pos),
                                    ('neg_grad', neg))
                for c, v in zip(self.class_names, values)
            }
            runner.visualizer.add_scalars(scalars, step=runner.iter + 1)
        if self.top_k > 0 and not balancer.in_warmup:
            fg = w[:-1]
            top = torch.topk(fg, min(self.top_k, fg.numel())).indices
            text = ', '.join(f'{self.class_names[i]} {float(fg[i]):.3g}'
                             for i in top.tolist())
            runner.logger.info(f'{tag}top: {text}')
