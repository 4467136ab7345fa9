"""The gradient matrix G of a sigmoid classifier, in O(R*n).

Notation (docs/gbr.md, "Sigmoid classifiers"): n foreground logits, no
background logit; samples of class ``k in [0, n]`` (n = background).
For sample r with label ``y_r``, weights ``lambda_r`` and the per-logit
gradients of :mod:`.sigmoid_logit_gradients`:

    N[k, i] = sum_{r: y_r = k} lambda_{r,i} (1 - alpha) phi(z_{r,i})
              (i < n, i != k)
    P[i]    = sum_{r: y_r = i} lambda_{r,i} alpha phi(-z_{r,i})        (i < n)

``N`` is ``(n + 1) x n``: every sample class, background included, pushes
negative gradient onto every foreground logit that is not its own; only the
n foreground logits receive positive gradient. The balance equations of the
softmax case carry over unchanged for the foreground logits,

    w_i P_i = sum_{k != i, k <= n} w_k N[k, i]      (i < n),

n equations for n + 1 weights (the background weight ``w_n`` scales the
loss of background samples). To use the softmax solvers as they are, the
statistics are stored as the same ``(n + 1) x (n + 1)`` matrix, with the
background *column* (there is no background logit) holding each class's
*slack*

    G[k, n] = P[k] - sum_{i < n, i != k} N[k, i]      (k < n)

and ``G[n, n] = -sum_{i < n} N[n, i]``, so that every row sums to zero like
a softmax G. The background column enters no foreground equation; the
background's own equation, ``G^T w`` at column n, is then the negated sum of
the others, i.e. implied by them. So ``G^T w = 0`` with ``sum w = n + 1``
has exactly the solutions of the n foreground equations plus the
normalisation, which is what :class:`~.solvers.DirectSolver` and the
paper's Jacobi module solve; :class:`~.solvers.PowerSolver` finds the same
vector when every slack is ``>= 0`` (then G is a Markov generator), which
holds on detection statistics, where a sample's positive gradient dwarfs
what it pushes onto the other *foreground* logits (tests/core/
test_sigmoid_gbr.py checks the three solvers against each other).

Normalisation: the caller scales each batch (``alpha``); the loss passes
``loss_weight / avg_factor`` so that G is the statistics of the gradient
the loss actually produces (dense heads normalise by the number of
positives, not by the number of samples). Samples with a label outside
``[0, n]`` contribute nothing. Statistics are detached, in
``promote(logits.dtype, float32)``.
"""
from typing import Optional

import torch
from torch import Tensor

from .logit_gradients import compute_dtype
from .sigmoid_logit_gradients import focal_alpha_factors, sigmoid_focal_phi

__all__ = ['accumulate_sigmoid_gradients', 'sigmoid_gradient_matrix']


@torch.no_grad()
def accumulate_sigmoid_gradients(out: Tensor,
                                 logits: Tensor,
                                 labels: Tensor,
                                 label_weights: Optional[Tensor] = None,
                                 gamma: float = 0.0,
                                 focal_alpha: Optional[float] = None,
                                 alpha: float = 1.0) -> int:
    """Add ``alpha * N`` and the slack column of one batch to ``out``.

    ``out[k, i] += alpha * N[k, i]`` (``i < n``, ``i != k``) and
    ``out[k, n] += alpha * (P[k] - sum_i N[k, i])`` (``k < n``); the
    diagonal is left untouched, so with a zero diagonal ``out.sum(1)`` is
    ``alpha * P`` afterwards (background row: its total negative gradient).

    Cost: two ``sigmoid``-based maps over the ``(R, n)`` logits, one
    ``index_add_`` of the ``(R, n)`` negative gradients, O(R) gathers;
    memory two ``(R, n)`` temporaries.

    Args:
        out (Tensor): ``(n + 1, n + 1)`` accumulator, written in place.
        logits (Tensor): ``(R, n)`` sigmoid logits.
        labels (Tensor): ``(R,)`` labels in ``[0, n]`` (n = background);
            others are ignored samples.
        label_weights (Tensor, optional): ``(R,)`` or ``(R, n)`` weights
            (0 = ignored sample / logit).
        gamma (float): focal exponent (0 = BCE).
        focal_alpha (float, optional): focal alpha; None: no alpha factors.
        alpha (float): scale of this batch's contribution.

    Returns:
        int: R, the number of samples passed.
    """
    if logits.dim() != 2:
        raise ValueError(f'logits must be (R, n), got {tuple(logits.shape)}')
    R, n = logits.shape
    if out.shape != (n + 1, n + 1):
        raise ValueError(f'out must be ({n + 1}, {n + 1}) for {n} sigmoid '
                         f'logits, got {tuple(out.shape)}')
    if labels.numel() != R:
        raise ValueError(f'{labels.numel()} labels for {R} samples')
    if R == 0:
        return 0
    dtype = compute_dtype(logits.dtype)
    a_pos, a_neg = focal_alpha_factors(focal_alpha)
    z = logits.detach().to(dtype)
    labels = labels.long().view(-1)
    valid = (labels >= 0) & (labels <= n)
    fg = valid & (labels < n)
    rows = labels.clamp(0, n)
    own = labels.clamp(0, n - 1).view(-1, 1)
    s = valid.to(dtype)
    lw = None
    if label_weights is not None:
        lw = label_weights.detach().to(dtype)
        if lw.dim() == 1:
            s = s * lw.view(-1)
            lw = None
        elif lw.shape != (R, n):
            raise ValueError(f'label_weights must be (R,) or (R, n) = '
                             f'({R}, {n}), got {tuple(lw.shape)}')
    neg = sigmoid_focal_phi(z, gamma)  # (R, n), fresh
    pos = sigmoid_focal_phi(-z.gather(1, own).squeeze(1), gamma)
    if lw is not None:
        neg.mul_(lw)
        pos = pos * lw.gather(1, own).squeeze(1)
    neg.mul_(a_neg)
    # a sample pushes no negative gradient onto its own logit
    neg.scatter_(1, own, neg.gather(1, own) * (~fg).to(dtype).view(-1, 1))
    slack = torch.where(fg, a_pos * pos - neg.sum(1), pos.new_zeros(()))
    neg.mul_(s.unsqueeze(1))
    slack = slack * s
    if neg.dtype != out.dtype:
        neg, slack = neg.to(out.dtype), slack.to(out.dtype)
    out[:, :n].index_add_(0, rows, neg, alpha=alpha)
    out[:, n].index_add_(0, rows, slack, alpha=alpha)
    return R


@torch.no_grad()
def sigmoid_gradient_matrix(logits: Tensor,
                            labels: Tensor,
                            label_weights: Optional[Tensor] = None,
                            gamma: float = 0.0,
                            focal_alpha: Optional[float] = None,
                            normalizer: Optional[float] = None) -> Tensor:
    """G of one batch: ``(n + 1, n + 1)``, diagonal ``-P`` (module doc).

    Args:
        logits (Tensor): ``(R, n)`` sigmoid logits.
        labels (Tensor): ``(R,)`` labels in ``[0, n]``, n = background.
        label_weights (Tensor, optional): ``(R,)`` or ``(R, n)``.
        gamma (float): focal exponent.
        focal_alpha (float, optional): focal alpha (None: no factors).
        normalizer (float, optional): G is divided by it (R when omitted).

    Returns:
        Tensor: ``(n + 1, n + 1)`` detached, ``promote(dtype, float32)``;
        ``G[:n, :n]`` off the diagonal is ``N / normalizer``, ``G[:, n]``
        the slack column, ``G[i, i] = -P_i / normalizer`` (background:
        minus its row sum). Zero matrix for an empty batch.
    """
    if logits.dim() != 2:
        raise ValueError(f'logits must be (R, n), got {tuple(logits.shape)}')
    n = logits.shape[1]
    G = logits.new_zeros((n + 1, n + 1), dtype=compute_dtype(logits.dtype))
    R = accumulate_sigmoid_gradients(G, logits, labels, label_weights, gamma,
                                     focal_alpha)
    if R == 0:
        return G
    G.div_(float(R if normalizer is None else normalizer))
    G.diagonal().copy_(-G.sum(1))
    return G
