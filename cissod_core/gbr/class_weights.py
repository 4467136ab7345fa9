"""Turning class weights into per-RoI loss weights (docs/gbr.md).

For a batch of one branch (labeled / unlabeled) with labels ``y_r``:

    w_c   = clamp(w_c, lo, hi),  w_bg = clamp(w_bg, lo, min(hi, bg_max))
    u_r   = w_{y_r} ** beta                          (beta per branch)
    m_t   = mean_r u_r   (lambda-weighted if label weights are given:
                          sum lambda_r u_r / sum lambda_r)
    mbar  = RunningAverage(m_t)   (exact mean for the first 1/(1-momentum)
                                   updates, then EMA; see .accumulator)
    rw_r  = u_r / mbar

``rw_r`` multiplies the RoI's classification loss (the caller also multiplies
by ``lambda_r`` as usual). Dividing by a slowly moving average of the batch
mean, rather than by the batch mean itself, keeps the loss scale about 1 on
average without making a batch's loss depend on the composition of that
batch. The gradient statistics (:mod:`.gradient_matrix`) use ``lambda_r``
only, never these weights.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

__all__ = ['clamp_class_weights', 'roi_class_weights', 'batch_weight_mean']


def clamp_class_weights(weights: Tensor,
                        bounds: Tuple[float, float] = (1.0 / 3.0, 5.0),
                        bg_max: Optional[float] = 1.0) -> Tensor:
    """Clamp class weights to ``bounds``, and the background (last) entry to
    ``[bounds[0], min(bounds[1], bg_max)]``.

    Non-finite entries (which the solvers never produce) are replaced by 1
    as a last line of defence.

    Args:
        weights (Tensor): ``(C,)`` class weights, background last.
        bounds (tuple[float, float]): ``(lo, hi)`` with ``0 < lo <= hi``.
        bg_max (float, optional): upper bound of the background weight
            (``None``: same as the foreground).

    Returns:
        Tensor: ``(C,)`` clamped copy.
    """
    lo, hi = float(bounds[0]), float(bounds[1])
    if not 0.0 < lo <= hi:
        raise ValueError(f'bad weight bounds {bounds}')
    w = torch.nan_to_num(weights, nan=1.0, posinf=hi, neginf=lo)
    w = w.clamp(lo, hi)
    if bg_max is not None and w.numel() > 0:
        w[-1] = w[-1].clamp(max=max(lo, min(hi, float(bg_max))))
    return w


def roi_class_weights(class_weights: Tensor, labels: Tensor,
                      beta: float = 1.0) -> Tensor:
    """``u_r = w[y_r] ** beta``; RoIs with labels outside ``[0, C)`` get 1.

    Args:
        class_weights (Tensor): ``(C,)`` positive (clamped) class weights.
        labels (Tensor): ``(R,)`` integer labels.
        beta (float): exponent (0.5 labeled COCO, 0.8 O365/LVIS, 1 unlabeled).

    Returns:
        Tensor: ``(R,)`` in the dtype of ``class_weights``.
    """
    C = class_weights.numel()
    labels = labels.long().view(-1)
    valid = (labels >= 0) & (labels < C)
    w = class_weights.pow(float(beta)) if beta != 1.0 else class_weights
    u = w[labels.clamp(0, max(C - 1, 0))]
    return torch.where(valid, u, torch.ones_like(u))


def batch_weight_mean(roi_weights: Tensor,
                      label_weights: Optional[Tensor] = None) -> Tensor:
    """Mean of the RoI weights of one batch (label-weighted if given).

    Args:
        roi_weights (Tensor): ``(R,)`` ``u_r``.
        label_weights (Tensor, optional): ``(R,)`` ``lambda_r >= 0``.

    Returns:
        Tensor: scalar; ``nan`` for an empty batch or a zero total label
        weight (the caller must not fold that into its running average).
    """
    if label_weights is None:
        if roi_weights.numel() == 0:
            return roi_weights.new_tensor(float('nan'))
        return roi_weights.mean()
    lw = label_weights.detach().to(roi_weights.dtype).view(-1)
    return (roi_weights * lw).sum() / lw.sum()
