"""GbR's drop-in ``loss_cls`` for sigmoid (focal / BCE) classifiers.

The dense-head counterpart of :class:`.GradientBalancedLoss`: it hands each
call's logits to the balancer, which computes the sigmoid gradient matrix
(:mod:`cissod_core.gbr.sigmoid_gradient_matrix`), multiplies every sample's
loss (all its logits) by its class weight (background samples by the
background weight) and lets mmdet's :class:`~mmdet.models.losses.FocalLoss`
compute the loss itself.
"""
from typing import Dict, Optional, Union

from mmdet.models.losses import FocalLoss
from mmdet.registry import MODELS
from torch import Tensor

from .gradient_balanced_loss import build_balancer, with_solver_loss
from .loss_branch import LossBranchMixin

__all__ = ['GradientBalancedFocalLoss', 'loss_normalizer']


def loss_normalizer(num_samples: int, num_logits: int, reduction: str,
                    avg_factor: Optional[float]) -> float:
    """What mmdet divides the summed per-logit loss by: ``avg_factor`` if
    given, else ``R * n`` for ``'mean'`` (a mean over every element) and 1
    for ``'sum'`` / ``'none'``."""
    if avg_factor is not None:
        return float(avg_factor)
    if reduction == 'mean':
        return float(max(num_samples * num_logits, 1))
    return 1.0


@MODELS.register_module()
class GradientBalancedFocalLoss(LossBranchMixin, FocalLoss):
    """Sigmoid focal loss with gradient-based class reweighting.

    A drop-in ``loss_cls`` for RetinaNet, FCOS, ATSS and other dense heads
    that use mmdet's ``FocalLoss`` (``use_sigmoid=True``)::

        loss_cls=dict(type='GradientBalancedFocalLoss', num_classes=80,
                      gamma=2.0, alpha=0.25, loss_weight=1.0,
                      warmup_iters=8000, solver=dict(type='power'))

    plus ``custom_hooks=[dict(type='GradientBalanceHook')]``. Set
    ``alpha=None`` for an unweighted focal loss / BCE (``gamma=0``). Each
    call (one per FPN level in mmdet's anchor heads) records the statistics
    of the gradient it produces, scaled by ``loss_weight / avg_factor``, so
    the levels add up to the gradient of the whole loss.

    Args:
        num_classes (int): n, the sigmoid outputs (no background logit).
        use_sigmoid (bool): must be True.
        gamma (float): focal exponent.
        alpha (float, optional): focal alpha; None: no alpha factors.
        reduction (str): ``'mean'``, ``'sum'`` or ``'none'``.
        loss_weight (float): multiplier of the loss.
        activated (bool): must be False (the statistics need logits).
        solver (dict, optional): GbR solver config (``power`` default).
        **balancer_kwargs: :class:`cissod_core.gbr.GradientBalancer`
            arguments (``warmup_iters``, ``momentum``, ``betas``, ...).
    """

    def __init__(self,
                 num_classes: int,
                 use_sigmoid: bool = True,
                 gamma: float = 2.0,
                 alpha: Optional[float] = 0.25,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 activated: bool = False,
                 solver: Optional[dict] = None,
                 **balancer_kwargs) -> None:
        if activated:
            raise ValueError('GradientBalancedFocalLoss needs logits: '
                             'activated=True is not supported')
        super().__init__(
            use_sigmoid=use_sigmoid,
            gamma=gamma,
            alpha=0.5 if alpha is None else alpha,
            reduction=reduction,
            loss_weight=loss_weight,
            activated=False)
        self.num_classes = int(num_classes)
        self.focal_alpha = alpha
        self.balancer = build_balancer(
            num_classes, solver, gamma=float(gamma), classifier='sigmoid',
            focal_alpha=alpha, **balancer_kwargs)

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None
                ) -> Union[Tensor, Dict[str, Tensor]]:
        """Weighted focal loss of a batch of samples.

        Args:
            pred (Tensor): ``(R, n)`` logits.
            target (Tensor): ``(R,)`` labels in ``[0, n]``, n = background.
            weight (Tensor, optional): ``(R,)`` or ``(R, n)`` mmdet label
                weights (0 = ignored).
            avg_factor (float, optional): normaliser of the mean.
            reduction_override (str, optional): overrides ``reduction``.

        Returns:
            Tensor | dict: the loss; with the ``jacobi`` solver a dict
            ``loss_cls`` + ``loss_gbr_solver`` (see
            :func:`.gradient_balanced_loss.with_solver_loss`).
        """
        if pred.dim() != 2 or pred.shape[1] != self.num_classes:
            raise ValueError(
                f'GradientBalancedFocalLoss(num_classes={self.num_classes}) '
                f'expects logits of shape (R, {self.num_classes}) but got '
                f'{tuple(pred.shape)}: set num_classes of the loss to the '
                "head's num_classes.")
        if target.dim() != 1:
            raise ValueError('GradientBalancedFocalLoss takes class labels '
                             f'(R,), got targets of shape '
                             f'{tuple(target.shape)} (one-hot / soft targets'
                             ' are not supported)')
        reduction = reduction_override or self.reduction
        branch = self.branch
        balancer = self.balancer
        if self.training and branch.name is not None:
            balancer.record(
                pred.detach(), target, weight, branch.name,
                branch.loss_weight,
                normalizer=loss_normalizer(pred.shape[0], pred.shape[1],
                                           reduction, avg_factor))
        sample_weights = balancer.roi_weights(
            target, branch.name, None if weight is None or weight.dim() != 1
            else weight)
        if weight is None:
            weight = sample_weights
        elif weight.dim() == 1:
            weight = sample_weights * weight.float()
        else:
            weight = sample_weights.view(-1, 1) * weight.float()
        if self.focal_alpha is None:
            # mmdet's focal loss always applies alpha; alpha = 0.5 halves
            # both terms, so doubling the loss weight gives no alpha at all
            loss = 2.0 * super().forward(pred, target, weight, avg_factor,
                                         reduction_override)
        else:
            loss = super().forward(pred, target, weight, avg_factor,
                                   reduction_override)
        return with_solver_loss(balancer, loss, branch.name)
