"""GbR's drop-in ``loss_cls`` for softmax RoI classifiers.

Where the class weights are *applied*: this loss multiplies every RoI's
classification loss by its class weight (``GradientBalancer.roi_weights``)
and hands the batch's logits to the balancer, which computes the gradient
matrix G (:mod:`cissod_core.gbr.gradient_matrix`). The weights are
re-solved once per iteration by
:class:`~cissod.engine.hooks.GradientBalanceHook`.
"""
from typing import Dict, Optional, Union

import torch.nn.functional as F
from mmdet.models.losses.utils import weight_reduce_loss
from mmdet.registry import MODELS
from torch import Tensor, nn

from cissod_core.gbr import BaseSolver, GradientBalancer

from ...registry import GBR_SOLVERS
from .loss_branch import LossBranchMixin


def softmax_focal_loss_per_roi(log_probs: Tensor, labels: Tensor,
                               gamma: float) -> Tensor:
    """``-(1 - p_y)^gamma log p_y`` per RoI (cross-entropy when gamma = 0).

    Args:
        log_probs (Tensor): ``(R, C)`` log-softmax of the logits.
        labels (Tensor): ``(R,)`` labels in ``[0, C)``.
        gamma (float): focusing exponent >= 0.

    Returns:
        Tensor: ``(R,)`` losses.
    """
    log_p_true = log_probs.gather(1, labels.long().view(-1, 1)).squeeze(1)
    if gamma == 0:
        return -log_p_true
    return -(1.0 - log_p_true.exp()).clamp(min=0).pow(gamma) * log_p_true


@MODELS.register_module()
class GradientBalancedLoss(LossBranchMixin, nn.Module):
    """Softmax classification loss with gradient-based class reweighting.

    A drop-in ``loss_cls`` for ``Shared2FCBBoxHead`` and other softmax RoI
    heads (Cascade R-CNN's included)::

        loss_cls=dict(type='GradientBalancedLoss', num_classes=80,
                      warmup_iters=8000, betas=dict(labeled=0.5,
                      unlabeled=1.0), solver=dict(type='power'))

    plus ``custom_hooks=[dict(type='GradientBalanceHook')]``. With the
    learnable ``jacobi`` solver, exclude its parameter from weight decay:
    ``optim_wrapper=dict(paramwise_cfg=dict(custom_keys={
    'balancer.solver.a': dict(decay_mult=0.)}))``.

    Every call (in training mode) records the batch's gradient statistics
    for its branch (``self.branch``: ``labeled`` by default, ``unlabeled``
    or nothing inside the owner's ``loss.in_branch(...)`` block) and
    weights each RoI by ``w[y]^beta_branch`` normalised to mean ~1.

    Args:
        num_classes (int): number of foreground classes n (the classifier
            has n + 1 outputs, background last).
        gamma (float): focal exponent; 0 is cross-entropy.
        loss_weight (float): multiplier of the loss.
        reduction (str): ``'mean'``, ``'sum'`` or ``'none'``.
        solver (dict): the solver, built from
            :data:`~cissod.registry.GBR_SOLVERS`: ``type`` ``'power'``
            (default), ``'direct'`` or ``'jacobi'``, plus its arguments.
        **balancer_kwargs: the other arguments of
            :class:`cissod_core.gbr.GradientBalancer`
            (``warmup_iters``, ``momentum``, ``weight_bounds``,
            ``bg_max``, ``betas``, ...).
    """

    def __init__(self,
                 num_classes: int,
                 gamma: float = 0.0,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean',
                 solver: Optional[dict] = None,
                 **balancer_kwargs) -> None:
        super().__init__()
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(f'reduction must be none/mean/sum, got '
                             f'{reduction!r}')
        self.num_classes = num_classes
        self.gamma = float(gamma)
        self.loss_weight = loss_weight
        self.reduction = reduction
        self.balancer = build_balancer(num_classes, solver, gamma=self.gamma,
                                       **balancer_kwargs)

    def forward(
        self,
        cls_score: Tensor,
        label: Tensor,
        weight: Optional[Tensor] = None,
        avg_factor: Optional[float] = None,
        reduction_override: Optional[str] = None,
        **kwargs
    ) -> Union[Tensor, Dict[str, Tensor]]:
        """Weighted loss of a batch of RoIs.

        Args:
            cls_score (Tensor): ``(R, n + 1)`` logits.
            label (Tensor): ``(R,)`` labels, n = background.
            weight (Tensor, optional): ``(R,)`` mmdet label weights.
            avg_factor (float, optional): normaliser of the mean.
            reduction_override (str, optional): overrides ``reduction``.

        Returns:
            Tensor | dict: the loss; with a learnable solver (``jacobi``), a
            dict ``loss_cls`` + ``loss_gbr_solver``. As in the reference,
            the labeled and the unlabeled branch both emit it, so the
            detector weights it by ``sup_weight + unsup_weight``; outside a
            branch (e.g. a regression-only pass) it is zero.
        """
        if cls_score.dim() != 2 or cls_score.shape[1] != self.num_classes + 1:
            raise ValueError(
                f'GradientBalancedLoss(num_classes={self.num_classes}) '
                f'expects logits of shape (R, {self.num_classes + 1}) but got '
                f'{tuple(cls_score.shape)}: set num_classes of the loss to '
                'the bbox head num_classes (no custom_cls_channels).')
        reduction = reduction_override or self.reduction
        branch = self.branch
        balancer = self.balancer
        log_probs = F.log_softmax(cls_score.float(), dim=1)
        if self.training and branch.name is not None:
            # the statistics reuse the loss's softmax
            balancer.record(cls_score.detach(), label, weight, branch.name,
                            branch.loss_weight,
                            probs=log_probs.detach().exp())
        roi_weights = balancer.roi_weights(label, branch.name, weight)
        roi_weights = roi_weights if weight is None else \
            roi_weights * weight.float()
        loss = softmax_focal_loss_per_roi(log_probs, label, self.gamma)
        loss = self.loss_weight * weight_reduce_loss(
            loss, roi_weights, reduction=reduction, avg_factor=avg_factor)
        return with_solver_loss(balancer, loss, branch.name)


def build_balancer(num_classes: int, solver: Optional[dict],
                   **balancer_kwargs) -> GradientBalancer:
    """A :class:`GradientBalancer` whose solver is built from the
    :data:`~cissod.registry.GBR_SOLVERS` config ``solver`` (``power`` when
    None)."""
    solver_cfg = dict(type='power') if solver is None else dict(solver)

    def build_solver(**defaults) -> BaseSolver:
        return GBR_SOLVERS.build(solver_cfg, default_args=defaults)

    return GradientBalancer(num_classes, solver=build_solver,
                            **balancer_kwargs)


def with_solver_loss(balancer: GradientBalancer, loss: Tensor,
                     branch: Optional[str]
                     ) -> Union[Tensor, Dict[str, Tensor]]:
    """``loss``, or with a learnable solver (``jacobi``) the dict
    ``loss_cls`` + ``loss_gbr_solver``: as in the reference, the labeled and
    the unlabeled branch both emit the solver loss (so the detector weights
    it by ``sup_weight + unsup_weight``); outside a branch it is zero."""
    if not balancer.solver.learnable:
        return loss
    solver_loss = balancer.solver_loss()
    if branch not in balancer.betas:
        solver_loss = solver_loss * 0.0
    return dict(loss_cls=loss, loss_gbr_solver=solver_loss)
