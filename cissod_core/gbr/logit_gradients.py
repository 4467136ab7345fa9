"""Closed-form gradients of softmax classification losses w.r.t. the logits.

Every loss handled here has the form ``l = f(p_y)`` where ``p = softmax(z)``
and ``y`` is the RoI's label:

* cross-entropy:        ``f(p) = -log p``
* softmax focal loss:   ``f(p) = -(1 - p)^gamma * log p``  (any ``gamma >= 0``;
  ``gamma = 0`` is cross-entropy)

Because ``dp_y/dz_j = p_y (1[j = y] - p_j)``, the chain rule gives, with the
non-negative *gradient scale*

    g = -f'(p_y) * p_y = (1 - p_y)^gamma * (1 + gamma * h),
    h = -p_y log(p_y) / (1 - p_y)            (h -> 1 as p_y -> 1, 0 at p_y = 0)

the per-RoI logit gradient

    dl/dz_y = -g (1 - p_y)      (positive gradient of the true class)
    dl/dz_j =  g p_j, j != y    (negative gradient pushed onto class j)

i.e. ``dl/dz = g * (p - onehot(y))``. ``g = 1`` exactly for cross-entropy.

Nothing in this package imports mmdet / mmengine / mmcv.
"""
from typing import Optional

import torch
from torch import Tensor

__all__ = ['gradient_scale', 'logit_gradients', 'compute_dtype']


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The floating dtype statistics are computed in: at least float32.

    float16 / bfloat16 (AMP) logits are promoted to float32, float64 stays.
    """
    return torch.promote_types(dtype, torch.float32)


def gradient_scale(p_true: Tensor,
                   gamma: float = 0.0,
                   one_minus_p: Optional[Tensor] = None) -> Tensor:
    """Gradient scale ``g = -f'(p) * p`` of ``f(p) = -(1-p)^gamma log p``.

    Numerically safe on the closed interval ``p in [0, 1]`` for every
    ``gamma >= 0`` (including ``0 < gamma < 1``, where ``(1-p)^(gamma-1)``
    alone would blow up at ``p -> 1``): it is evaluated as
    ``(1-p)^gamma * (1 + gamma * h)`` with ``h = -p log p / (1-p)``, using
    ``h = 1`` (its limit) at ``p = 1`` and ``p log p = 0`` at ``p = 0``.

    Args:
        p_true (Tensor): ``(R,)`` probability of the true class, in [0, 1].
        gamma (float): focal exponent, ``>= 0``. 0 gives cross-entropy
            (``g = 1`` exactly).
        one_minus_p (Tensor, optional): ``(R,)`` an accurate ``1 - p_true``
            (e.g. the sum of the other classes' probabilities, which does not
            cancel when ``p_true`` is close to 1). Computed as ``1 - p_true``
            when omitted.

    Returns:
        Tensor: ``(R,)`` non-negative gradient scales, dtype of ``p_true``.
    """
    gamma = float(gamma)
    if gamma < 0:
        raise ValueError(f'gamma must be >= 0, got {gamma}')
    if gamma == 0.0:
        return torch.ones_like(p_true)
    p = p_true.clamp(0.0, 1.0)
    q = (1.0 - p) if one_minus_p is None else one_minus_p.clamp(0.0, 1.0)
    q_safe = torch.where(q > 0, q, torch.ones_like(q))
    h = torch.where(q > 0, -torch.special.xlogy(p, p) / q_safe,
                    torch.ones_like(q))
    return q.pow(gamma) * (1.0 + gamma * h)


def logit_gradients(logits: Tensor,
                    labels: Tensor,
                    label_weights: Optional[Tensor] = None,
                    gamma: float = 0.0) -> Tensor:
    """``dL/dz`` for ``L = sum_r lambda_r * f(p_{r, y_r})``, in closed form.

    Used to verify the closed form against autograd; the gradient matrix
    itself never materialises this tensor (see :mod:`.gradient_matrix`).

    Args:
        logits (Tensor): ``(R, C)`` raw classification scores.
        labels (Tensor): ``(R,)`` int64 labels in ``[0, C)``.
        label_weights (Tensor, optional): ``(R,)`` per-RoI weights
            ``lambda_r``; ones when omitted.
        gamma (float): focal exponent (0 = cross-entropy).

    Returns:
        Tensor: ``(R, C)`` gradient, in ``compute_dtype(logits.dtype)``.
    """
    dtype = compute_dtype(logits.dtype)
    z = logits.detach().to(dtype)
    p = torch.softmax(z, dim=1)
    idx = labels.long().view(-1, 1)
    p_true = p.gather(1, idx).squeeze(1)
    q = p.scatter(1, idx, 0.0).sum(1)
    g = gradient_scale(p_true, gamma, one_minus_p=q)
    if label_weights is not None:
        g = g * label_weights.detach().to(dtype)
    grad = p.scatter(1, idx, (-q).unsqueeze(1))  # p - onehot(y)
    return grad * g.unsqueeze(1)
