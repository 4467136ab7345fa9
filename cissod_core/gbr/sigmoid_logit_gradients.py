"""Closed-form gradients of sigmoid (BCE / focal) losses w.r.t. the logits.

A sigmoid classifier has one logit ``z_i`` per foreground class
``i = 0 .. n-1`` and no background logit; every sample (anchor, point,
query) has a target ``t_i in {0, 1}`` on every logit: ``t_i = 1`` only for
its own class ``y`` (a background sample has ``t = 0`` everywhere). With
``p = sigmoid(z)`` the per-logit loss of mmdet's ``FocalLoss``
(``use_sigmoid=True``) is

    t = 1:  alpha (1 - p)^gamma (-log p)      = alpha (1-p)^gamma softplus(-z)
    t = 0:  (1 - alpha) p^gamma (-log(1 - p)) = (1 - alpha) p^gamma softplus(z)

(``gamma = 0`` with both factors 1 is binary cross-entropy). Since
``dp/dz = p (1 - p)``, the derivative of the ``t = 0`` term is

    d/dz = (1 - alpha) * phi(z),
    phi(z) = p^gamma * (p + gamma (1 - p) softplus(z))        >= 0

and, because ``1 - sigmoid(z) = sigmoid(-z)``, the ``t = 1`` term is the
mirror image:

    d/dz = -alpha * phi(-z)                                   <= 0

So the *negative gradient* a sample pushes onto a logit that is not its
class is ``(1 - alpha) phi(z_i)`` and the *positive gradient* on its own
logit is ``alpha phi(-z_y)``: one function evaluated at ``z`` and ``-z``.
``phi`` is finite for every ``z`` and every ``gamma >= 0`` (no
``(1-p)^(gamma-1)`` appears), and ``softplus`` keeps the logarithm accurate
for large ``|z|``.

Nothing in this package imports mmdet / mmengine / mmcv.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .logit_gradients import compute_dtype

__all__ = [
    'focal_alpha_factors', 'sigmoid_focal_phi', 'sigmoid_logit_gradients'
]


def focal_alpha_factors(focal_alpha: Optional[float]) -> Tuple[float, float]:
    """``(positive, negative)`` factors: ``(alpha, 1 - alpha)``, or
    ``(1, 1)`` for ``focal_alpha=None`` (plain BCE / unweighted focal)."""
    if focal_alpha is None:
        return 1.0, 1.0
    a = float(focal_alpha)
    if not 0.0 <= a <= 1.0:
        raise ValueError(f'focal_alpha must be in [0, 1] or None, got {a}')
    return a, 1.0 - a


def sigmoid_focal_phi(z: Tensor, gamma: float = 0.0) -> Tensor:
    """``phi(z) = p^gamma (p + gamma (1-p) softplus(z))``, ``p = sigmoid(z)``.

    The magnitude of ``d/dz [p^gamma softplus(z)]`` (the ``t = 0`` focal
    term without its alpha); ``phi(-z)`` is that of the ``t = 1`` term.

    Args:
        z (Tensor): logits of any shape, floating.
        gamma (float): focal exponent, ``>= 0`` (0: BCE, ``phi = p``).

    Returns:
        Tensor: same shape and dtype as ``z``, ``>= 0``.
    """
    gamma = float(gamma)
    if gamma < 0:
        raise ValueError(f'gamma must be >= 0, got {gamma}')
    p = torch.sigmoid(z)
    if gamma == 0.0:
        return p
    q = torch.sigmoid(-z)  # 1 - p without cancellation
    return p.pow(gamma) * (p + gamma * q * F.softplus(z))


def sigmoid_logit_gradients(logits: Tensor,
                            labels: Tensor,
                            label_weights: Optional[Tensor] = None,
                            gamma: float = 0.0,
                            focal_alpha: Optional[float] = None) -> Tensor:
    """``dL/dz`` of ``L = sum_{r, i} lambda_{r,i} l(z_{r,i}, t_{r,i})``.

    Used to verify the closed form against autograd; the gradient matrix
    (:mod:`.sigmoid_gradient_matrix`) computes the same quantities.

    Args:
        logits (Tensor): ``(R, n)`` sigmoid logits.
        labels (Tensor): ``(R,)`` labels in ``[0, n]`` (n = background);
            other values (e.g. -1) are ignored samples (zero gradient).
        label_weights (Tensor, optional): ``(R,)`` per-sample or ``(R, n)``
            per-logit weights ``lambda``; ones when omitted.
        gamma (float): focal exponent (0 = BCE).
        focal_alpha (float, optional): focal alpha (positives ``alpha``,
            negatives ``1 - alpha``); None: both 1.

    Returns:
        Tensor: ``(R, n)`` gradient in ``compute_dtype(logits.dtype)``.
    """
    if logits.dim() != 2:
        raise ValueError(f'logits must be (R, n), got {tuple(logits.shape)}')
    n = logits.shape[1]
    dtype = compute_dtype(logits.dtype)
    z = logits.detach().to(dtype)
    a_pos, a_neg = focal_alpha_factors(focal_alpha)
    labels = labels.long().view(-1)
    valid = (labels >= 0) & (labels <= n)
    target = F.one_hot(labels.clamp(0, n), n + 1)[:, :n].to(torch.bool)
    grad = torch.where(target, -a_pos * sigmoid_focal_phi(-z, gamma),
                       a_neg * sigmoid_focal_phi(z, gamma))
    grad = grad * valid.to(dtype).unsqueeze(1)
    if label_weights is not None:
        lw = label_weights.detach().to(dtype)
        grad = grad * (lw.unsqueeze(1) if lw.dim() == 1 else lw)
    return grad
