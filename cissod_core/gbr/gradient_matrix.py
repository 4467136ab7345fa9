"""The class-by-class gradient matrix G of one batch, in O(R*C).

Notation (docs/gbr.md): C softmax outputs, background last (index C-1);
for RoI r: probabilities ``p_r``, label ``y_r``, label weight ``lambda_r``,
gradient scale ``g_r`` (:func:`.logit_gradients.gradient_scale`) and
``s_r = lambda_r * g_r``.

    N[k, i] = sum_{r: y_r = k} s_r p_{r,i}         (k != i)
    P[i]    = sum_{r: y_r = i} s_r (1 - p_{r,i})
    G[k, i] = N[k, i] (k != i),   G[i, i] = -P[i]

N is one scatter-add of the rows ``s_r * p_r`` into the rows ``y_r`` (after
zeroing each RoI's own true-class entry); no per-RoI C x C outer product is
ever built. P is then the row sum of N, because
``1 - p_{r,i} = sum_{j != i} p_{r,j}``: this is exact algebra, avoids the
cancellation of ``sum s_r - M[i, i]`` when ``p_{r,i} -> 1`` and makes every
row of G sum to zero (``G @ 1 = 0``), which is what makes the balance
equations solvable (see :mod:`.solvers`).

Normalisation: the batch G is divided by R, the number of RoIs passed
(every row, whatever its label weight; rows with a label outside ``[0, C)``
contribute nothing). An empty batch gives the zero matrix. Nothing here
synchronises with the device.

Precision: statistics are computed detached (no autograd graph) in
``promote(logits.dtype, float32)``, so float16 / bfloat16 logits under AMP
are upcast to float32; float64 logits stay float64.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from .logit_gradients import compute_dtype, gradient_scale

__all__ = ['accumulate_negative_gradients', 'batch_gradient_matrix']


def _label_mask(labels: Tensor, num_classes: int) -> Tuple[Tensor, Tensor]:
    """Clamp labels into ``[0, C)`` and return the validity mask.

    Rows whose label lies outside ``[0, C)`` (e.g. -1 = ignore) get a zero
    weight instead of being removed, so that no host synchronisation is
    needed (they are still counted in R).
    """
    labels = labels.long().view(-1)
    valid = (labels >= 0) & (labels < num_classes)
    return labels.clamp(0, num_classes - 1), valid


@torch.no_grad()
def accumulate_negative_gradients(out: Tensor,
                                  logits: Tensor,
                                  labels: Tensor,
                                  label_weights: Optional[Tensor] = None,
                                  gamma: float = 0.0,
                                  alpha: float = 1.0,
                                  probs: Optional[Tensor] = None) -> int:
    """Scatter-add ``alpha * N`` of one batch into ``out`` (in place).

    ``out[k, i] += alpha * sum_{r: y_r = k} s_r p_{r,i}`` for ``i != k``; the
    diagonal of ``out`` is left untouched (nothing is added to it), so when
    ``out`` starts with a zero diagonal, ``P = out.sum(1)`` afterwards.

    Cost: one softmax, one in-place scaling and one ``index_add_`` over the
    ``(R, C)`` probabilities, plus O(R) gathers; memory one ``(R, C)``
    temporary.

    Args:
        out (Tensor): ``(C, C)`` accumulator, floating, any device of the
            logits. Written in place.
        logits (Tensor): ``(R, C)`` classification scores (any float dtype).
        labels (Tensor): ``(R,)`` labels; rows outside ``[0, C)`` contribute
            nothing (but are counted).
        label_weights (Tensor, optional): ``(R,)`` ``lambda_r`` (ones if
            omitted).
        gamma (float): focal exponent of the loss (0 = cross-entropy).
        alpha (float): scale of the contribution (e.g. ``loss_weight / R``).
        probs (Tensor, optional): ``(R, C)`` ``softmax(logits)`` if the
            caller already has it (e.g. a loss that computes the full
            softmax): saves the softmax, the dominant cost. Not modified.

    Returns:
        int: R, the number of RoIs that were accumulated.
    """
    if logits.dim() != 2:
        raise ValueError(f'logits must be (R, C), got {tuple(logits.shape)}')
    if out.shape != (logits.shape[1], logits.shape[1]):
        raise ValueError(f'out must be ({logits.shape[1]}, {logits.shape[1]})'
                         f', got {tuple(out.shape)}')
    num_rois = logits.shape[0]
    if labels.numel() != num_rois:
        raise ValueError(f'{labels.numel()} labels for {num_rois} RoIs')
    if num_rois == 0:
        return 0
    labels, valid = _label_mask(labels, logits.shape[1])
    dtype = compute_dtype(logits.dtype)
    if probs is None:
        p = torch.softmax(logits.detach().to(dtype), dim=1)  # fresh (R, C)
    else:
        if probs.shape != logits.shape:
            raise ValueError(f'probs {tuple(probs.shape)} and logits '
                             f'{tuple(logits.shape)} differ in shape')
        p = probs.detach().to(dtype=dtype, copy=True)
    idx = labels.view(-1, 1)
    s = valid.to(dtype)
    if float(gamma) != 0.0:
        p_true = p.gather(1, idx).squeeze(1)
        p.scatter_(1, idx, 0.0)
        s = s * gradient_scale(p_true, gamma, one_minus_p=p.sum(1))
    else:
        p.scatter_(1, idx, 0.0)
    if label_weights is not None:
        s = s * label_weights.detach().to(dtype).view(-1)
    p.mul_(s.unsqueeze(1))
    if p.dtype != out.dtype:
        p = p.to(out.dtype)
    out.index_add_(0, labels, p, alpha=alpha)
    return num_rois


@torch.no_grad()
def batch_gradient_matrix(logits: Tensor,
                          labels: Tensor,
                          label_weights: Optional[Tensor] = None,
                          gamma: float = 0.0,
                          num_classes: Optional[int] = None) -> Tensor:
    """Gradient matrix G of one batch, normalised by the number of RoIs.

    Args:
        logits (Tensor): ``(R, C)`` classification scores; C includes the
            background (last).
        labels (Tensor): ``(R,)`` labels in ``[0, C)`` (C-1 = background);
            rows with labels outside that range contribute nothing but are
            counted in R.
        label_weights (Tensor, optional): ``(R,)`` per-RoI loss weights
            ``lambda_r`` (ones if omitted).
        gamma (float): focal exponent of the loss (0 = cross-entropy).
        num_classes (int, optional): C, checked against ``logits.shape[1]``.

    Returns:
        Tensor: ``(C, C)`` detached, dtype ``promote(logits.dtype, float32)``:
        ``G[k, i] = N[k, i] / R`` off the diagonal, ``G[i, i] = -P[i] / R``.
        Zero matrix for an empty batch.
    """
    if logits.dim() != 2:
        raise ValueError(f'logits must be (R, C), got {tuple(logits.shape)}')
    C = logits.shape[1]
    if num_classes is not None and num_classes != C:
        raise ValueError(f'num_classes={num_classes} but logits have {C} '
                         'columns')
    G = logits.new_zeros((C, C), dtype=compute_dtype(logits.dtype))
    n = accumulate_negative_gradients(G, logits, labels, label_weights, gamma)
    if n == 0:
        return G
    G.div_(n)
    G.diagonal().copy_(-G.sum(1))  # diagonal is 0 here, so sum(1) = P / R
    return G
