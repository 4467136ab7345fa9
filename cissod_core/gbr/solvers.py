"""Solvers of the class-weight balance equations (docs/gbr.md).

Given the accumulated gradient matrix G (``(C, C)``, C = n + 1, background
last; ``G[k, i] = N[k, i] >= 0`` off the diagonal, ``G[i, i] = -P[i]``), find
``w > 0`` with

    w_i P_i = sum_{k != i} w_k N[k, i]   for every class i,    sum_i w_i = C.

In matrix form ``G^T w = 0``. Every row of a G built by
:mod:`.gradient_matrix` sums to zero (``P_k = sum_{i != k} N[k, i]``), and
so does every average of such matrices (G-hat), so ``G^T`` is singular and
the equations *always* have a solution: G is the generator of a
continuous-time Markov chain and ``w`` its stationary measure, strictly
positive and unique up to scale when G is irreducible (softmax
probabilities are all > 0, so every class present in the statistics
reaches every other). Equivalently ``w`` is the Perron vector, with
eigenvalue exactly 1, of the non-negative Jacobi matrix
``M[i, k] = N[k, i] / P_i``. The three solvers below agree on such a G as
long as no clamp binds (tests/core/gbr/test_gbr_core.py).

Inactive classes. A class with ``P_i <= active_tol * max_j P_j`` (no RoI of
that class in the statistics, e.g. a class absent from the data so far) has
no positive gradient to balance: its equation would ask for an infinite
weight. Such classes are *inactive*: they are excluded from the system
(their own rows carry no RoIs, so they do not influence the other classes)
and *keep their previous weight* - 1 if they were never active, and,
for a class whose statistics decayed away under the EMA, the (clamped)
weight it last had, so nothing jumps when a class drops below the
threshold. (A class's weight only scales the loss of RoIs *of* that class,
so an absent class's weight changes no loss; it matters to GbT.) The active
classes are normalised to ``sum_active w = #active`` (so ``sum w = C`` while
the inactive weights are 1). No division by zero happens anywhere; a
degenerate system (fewer than 2 active classes, an all-zero G) keeps the
previous weights (ones at the start). With inactive classes the active
system is not exactly solvable any more (active classes also push gradient
onto the inactive ones): ``power`` then returns the Perron vector, for which
every active class has the *same* ratio ``rho < 1`` of weighted negative
inflow to weighted positive gradient, while ``direct`` / ``jacobi`` satisfy
the foreground equations exactly and leave the whole deficit on the
background's.

How the background (index C-1) enters each solver:

* ``jacobi`` (paper): the background is *not* given its own balance
  equation; its target comes from the normalisation,
  ``t_bg = C - sum_fg t_i``, clamped to ``[lo, min(hi, bg_max)]``
  (= [1/3, 1]); foreground targets ``t_i = sum_{k != i} w_k N[k, i] / P_i``
  use the current weights of all classes, background included.
* ``direct``: the same equations as ``jacobi``'s fixed point, solved
  exactly: the foreground balance equations plus ``sum w = #active`` in
  place of the background's equation (which, on a consistent G, is the
  negated sum of the others and so adds nothing). Negative solutions
  (possible on an inconsistent G) are clamped to ``lo``.
* ``power``: the background is an ordinary class of the Jacobi map (its
  positive gradient is balanced against what foreground RoIs push onto it);
  the Perron vector is normalised to ``sum = #active`` over the active
  classes (``sum = C`` when all are active).

Normalisation. ``normalization='all'`` (softmax classifiers, the paper)
scales the active weights to ``sum = #active``; ``'foreground'`` (sigmoid
classifiers, :mod:`.sigmoid_gradient_matrix`) scales the active
*foreground* weights to ``sum = #active foreground`` and lets the
background weight follow from the equations. Only ratios of weights are
fixed by ``G^T w = 0``; for a sigmoid head the background has no logit and
its balanced weight can be several times the foreground's, so a sum over
all classes would squeeze the foreground weights against the lower bound.
``jacobi`` supports ``'all'`` only (its parametrisation fixes the sum).

In all three the background weight is finally clamped to
``[lo, min(hi, bg_max)]`` and every foreground weight to ``[lo, hi]`` (after
the normalisation, so the clamped weights need not sum to C exactly).

Solvers are plain classes here; the mmdet glue registers them in an mmengine
registry (``cissod.registry.GBR_SOLVERS``: ``'power'``, ``'direct'``,
``'jacobi'``) so that configs select them by name. They are
``nn.Module``s whose whole state (warm start, ``a``, targets, last weights)
lives in buffers / parameters, so a ``state_dict`` round trip
restores them exactly.
"""
import math
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from .class_weights import clamp_class_weights

#: :class:`BaseSolver` ``normalization`` modes (module docstring).
NORMALIZATIONS = ('all', 'foreground')

__all__ = [
    'NORMALIZATIONS', 'BaseSolver', 'PowerSolver', 'DirectSolver',
    'JacobiSolver', 'positive_gradients', 'negative_inflow',
    'active_classes', 'balance_residual'
]

# --------------------------------------------------------------------------
# pure helpers


def positive_gradients(G: Tensor) -> Tensor:
    """``P = -diag(G)``, ``(C,)``."""
    return -G.diagonal()


def negative_inflow(G: Tensor, w: Tensor) -> Tensor:
    """``sum_{k != i} w_k N[k, i]`` for every i, ``(C,)``.

    Computed as ``G^T w + P * w`` (one matrix-vector product on G itself; the
    off-diagonal part of G is never copied).
    """
    w = w.to(G.dtype)
    return torch.mv(G.t(), w) + positive_gradients(G) * w


def active_classes(P: Tensor, active_tol: float = 1e-12) -> Tensor:
    """Classes with ``P_i > active_tol * max_j P_j`` (bool ``(C,)``).

    All False when ``max P <= 0`` or P is not finite.
    """
    pmax = P.max() if P.numel() else P.new_tensor(0.0)
    ok = torch.isfinite(pmax) & (pmax > 0)
    return (P > active_tol * pmax) & ok & torch.isfinite(P)


def balance_residual(G: Tensor,
                     w: Tensor,
                     per_class: bool = False,
                     active_tol: float = 1e-12) -> Tensor:
    """How far ``w`` is from balancing G, over the active classes.

    Args:
        G (Tensor): ``(C, C)`` gradient matrix.
        w (Tensor): ``(C,)`` class weights.
        per_class (bool): False: ``max_i |w_i P_i - inflow_i| / max_j P_j``
            (absolute, dominated by classes with large P, weights are O(1)).
            True: ``max_i |w_i P_i - inflow_i| / max(w_i P_i, inflow_i)``,
            a scale-free relative imbalance in [0, 1] that also sees rare
            classes.

    Returns:
        Tensor: scalar (0 when no class is active).
    """
    G = G.to(torch.float64)
    w = w.to(torch.float64)
    P = positive_gradients(G)
    act = active_classes(P, active_tol)
    out = w * P
    inflow = negative_inflow(G, w)
    r = (out - inflow).abs()
    if per_class:
        den = torch.maximum(out, inflow)
        r = torch.where(den > 0, r / torch.where(den > 0, den, 1.0), 0.0)
    else:
        pmax = torch.where(act, P, 0.0).max() if P.numel() else P.sum()
        r = r / torch.where(pmax > 0, pmax, 1.0)
    r = torch.where(act, r, 0.0)
    return r.max() if r.numel() else r.sum()


# --------------------------------------------------------------------------
# solvers


class BaseSolver(nn.Module):
    """Interface of the class-weight solvers.

    Args:
        num_classes (int): n, foreground classes; the solver works on
            C = n + 1 weights, background last.
        weight_bounds (tuple[float, float]): ``(lo, hi)`` of every weight.
        bg_max (float): upper bound of the background weight.
        active_tol (float): relative threshold on P for active classes.
        normalization (str): ``'all'`` (``sum_active w = #active``) or
            ``'foreground'`` (the same over the foreground classes only),
            see the module docstring.

    State: ``weights`` buffer ``(C,)`` float64, the clamped weights of the
    last :meth:`solve` (ones before).
    """

    #: whether :meth:`loss` trains parameters (added to the detector loss)
    learnable: bool = False

    def __init__(self,
                 num_classes: int,
                 weight_bounds: Tuple[float, float] = (1.0 / 3.0, 5.0),
                 bg_max: float = 1.0,
                 active_tol: float = 1e-12,
                 normalization: str = 'all') -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        if normalization not in NORMALIZATIONS:
            raise ValueError(f'normalization must be one of {NORMALIZATIONS}'
                             f', got {normalization!r}')
        self.normalization = normalization
        self.num_classes = int(num_classes)
        self.num_outputs = self.num_classes + 1
        self.weight_bounds = (float(weight_bounds[0]), float(weight_bounds[1]))
        self.bg_max = float(bg_max)
        self.active_tol = float(active_tol)
        self.register_buffer(
            'weights', torch.ones(self.num_outputs, dtype=torch.float64))

    def sum_mask(self, act: Tensor) -> Tensor:
        """The active classes whose weights the normalisation sums
        (bool ``(C,)``): all of them, or the foreground ones."""
        if self.normalization == 'foreground':
            act = act.clone()
            act[-1] = False
        return act

    def clamp(self, w: Tensor) -> Tensor:
        """Apply the weight bounds (background: ``<= bg_max``)."""
        return clamp_class_weights(w, self.weight_bounds, self.bg_max)

    def _check(self, G: Tensor) -> Tensor:
        C = self.num_outputs
        if G.shape != (C, C):
            raise ValueError(f'G must be ({C}, {C}), got {tuple(G.shape)}')
        return G.detach()

    def solve(self, G: Tensor) -> Tensor:
        """Update the solver from G and return the clamped weights.

        Args:
            G (Tensor): ``(C, C)`` accumulated gradient matrix.

        Returns:
            Tensor: ``(C,)`` float64 clamped class weights.
        """
        raise NotImplementedError

    def current_weights(self) -> Tensor:
        """Clamped weights to apply now, ``(C,)`` float64, detached."""
        return self.weights

    def loss(self) -> Tensor:
        """Training loss of the solver's parameters (0 if not learnable)."""
        return self.weights.new_zeros(())

    def extra_repr(self) -> str:
        return (f'num_classes={self.num_classes}, bounds={self.weight_bounds}'
                f', bg_max={self.bg_max}')


class PowerSolver(BaseSolver):
    """Perron vector of the Jacobi map ``M[i, k] = N[k, i] / P_i``.

    Iterates ``x <- (1 - damping) x + damping * M x``, rescaled to
    ``sum x = #active`` (an L1 normalisation: x stays positive, and it is the
    normalisation the weights need), warm-started from the previous solution
    (buffer ``raw``), until ``max |x_new - x| <= tol * max x_new`` or
    ``max_iter`` iterations. Cost per iteration: one ``C x C`` matrix-vector
    product on G, in G's dtype (no copy of G is made). Because G moves
    slowly (EMA 0.999), a warm-started call typically needs a few
    iterations. ``tol`` must stay well above the rounding level of G's
    dtype (1e-5 is ~100 float32 ulps).

    ``damping = 1`` is the plain normalised Jacobi map. Its eigenvalues are
    those of the jump chain ``N[k, i] / P_k``, whose diagonal is zero, so
    they sum to 0: besides the Perron root 1 they are mostly negative, and
    close to -1 when the chain is nearly bipartite - exactly so for n = 1
    (eigenvalues +-1: the plain map oscillates forever), and nearly so on
    detection statistics, where foreground RoIs push most of their negative
    gradient onto the background and background RoIs push theirs onto the
    foreground (the second eigenvalue is about minus that fraction). The
    damped map has the same fixed point and maps each eigenvalue ``lambda``
    to ``1 - damping + damping * lambda``; ``damping = 2/3`` maps
    ``[-1, 0]`` into ``[-1/3, 1/3]`` (the best contraction for a real
    spectrum in ``[-1, 0]``) and converges for every irreducible G.

    Args:
        max_iter (int): iterations per :meth:`solve` call.
        tol (float): relative stopping tolerance.
        damping (float): in (0, 1].

    Extra state: ``raw`` ``(C,)`` float64 unclamped solution (warm start),
    ``last_iters`` int64 iterations used by the last call (diagnostic).
    """

    def __init__(self,
                 num_classes: int,
                 max_iter: int = 100,
                 tol: float = 1e-5,
                 damping: float = 2.0 / 3.0,
                 **kwargs) -> None:
        super().__init__(num_classes, **kwargs)
        if not 0.0 < damping <= 1.0:
            raise ValueError(f'damping must be in (0, 1], got {damping}')
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.damping = float(damping)
        self.register_buffer(
            'raw', torch.ones(self.num_outputs, dtype=torch.float64))
        self.register_buffer('last_iters', torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def solve(self, G: Tensor) -> Tensor:
        G = self._check(G)
        if not G.is_floating_point():
            G = G.to(torch.float64)
        P = positive_gradients(G)
        act = active_classes(P, self.active_tol)
        n_act = int(act.sum())
        if n_act < 2:
            self.last_iters.zero_()
            return self.weights
        inv_P = torch.where(act, 1.0 / torch.where(act, P, 1.0), 0.0)
        summed = self.sum_mask(act)
        n_sum = int(summed.sum())
        if n_sum < 1:
            self.last_iters.zero_()
            return self.weights
        raw = self.raw.to(G.dtype)
        x = torch.where(act & torch.isfinite(raw) & (raw > 0), raw, 1.0)
        x = torch.where(act, x, 0.0)  # inactive entries stay exactly 0
        x = x * (n_sum / (x.sum() if n_sum == n_act else x[summed].sum()))
        theta = self.damping
        iters = 0
        for iters in range(1, self.max_iter + 1):
            # M x = (G^T x + P * x) / P on the active classes, 0 elsewhere
            u = torch.addcmul(torch.mv(G.t(), x), P, x).mul_(inv_P)
            if theta != 1.0:
                u = torch.lerp(x, u, theta)
            s = u.sum() if n_sum == n_act else u[summed].sum()
            u.mul_(n_sum / s)
            s_, diff, umax = torch.stack(
                [s, (u - x).abs().max(), u.max()]).tolist()
            if not (math.isfinite(s_) and s_ > 0 and math.isfinite(umax)):
                break  # degenerate (no inflow anywhere): keep the iterate
            x = u
            if diff <= self.tol * umax:
                break
        self.raw.copy_(torch.where(act, x.to(self.raw.dtype), self.raw))
        self.last_iters.fill_(iters)
        self.weights.copy_(self.clamp(self.raw))
        return self.weights


class DirectSolver(BaseSolver):
    """Linear solve of the balance equations with ``sum w = #active``.

    Over the active classes (A of them), the background's own equation (or,
    if the background is inactive, the last active class's) is replaced by
    the normalisation row:

        [ G_a^T / s  without the background row ]  w = [ 0 ]
        [ 1 ... 1                                ]      [ A ]

    with ``s = max P`` so that every row is O(1), solved by LU
    (``torch.linalg.solve_ex``) in float64. Dropping one equation loses
    nothing on a consistent G: the equations sum to ``w^T G 1 = 0``, so any
    one of them is implied by the others. The solution is the exact fixed
    point of the paper's Jacobi iteration without its clamps (foreground
    equations + normalisation). On an inconsistent G (e.g. statistics that
    do not come from softmax) it can have negative entries, as the
    supplement reports; they end up at the lower bound. A singular system or
    a non-finite solution keeps the previous weights.

    LU rather than least squares: MKL's ``gelsy`` (``torch.linalg.lstsq``)
    returns results that depend on memory alignment, which would break
    bit-exact resumption; ``getrf`` here does not. Cost O(A^3): about a
    millisecond for COCO, ~0.1 s on a CPU for LVIS (see ``bench/``).

    Extra state: ``raw`` ``(C,)`` float64 unclamped solution.
    """

    def __init__(self, num_classes: int, **kwargs) -> None:
        super().__init__(num_classes, **kwargs)
        self.register_buffer(
            'raw', torch.ones(self.num_outputs, dtype=torch.float64))

    @torch.no_grad()
    def solve(self, G: Tensor) -> Tensor:
        G = self._check(G).to(torch.float64)
        P = positive_gradients(G)
        act = active_classes(P, self.active_tol)
        idx = act.nonzero().view(-1)
        n_act = idx.numel()
        if n_act < 2:
            return self.weights
        summed = self.sum_mask(act)[idx]
        n_sum = int(summed.sum())
        if n_sum < 1:
            return self.weights
        Ga = G.index_select(0, idx).index_select(1, idx)
        A = Ga.t() / P[idx].max()
        # the last active equation (background's) -> the sum row
        A[-1] = summed.to(A.dtype)
        b = Ga.new_zeros(n_act, 1)
        b[-1, 0] = float(n_sum)
        sol, info = torch.linalg.solve_ex(A, b)
        sol = sol.view(-1)
        if int(info) == 0 and bool(torch.isfinite(sol).all()):
            self.raw[idx] = sol
            self.weights.copy_(self.clamp(self.raw))
        return self.weights


class JacobiSolver(BaseSolver):
    """The paper's learnable "Jacobi iterate module".

    Parameter ``a`` ``(C,)`` (zeros: w = 1), ``w = C * softmax(a)``. Each
    :meth:`solve` computes one Jacobi target from the current ``w`` (raw,
    unclamped):

        t_i  = sum_{k != i} w_k N[k, i] / P_i   (active foreground i;
                                        inactive: previous t_i, 1 at first)
        t_bg = C - sum_fg t_i
        t    = clamp(t, lo, hi),  t_bg = clamp(t_bg, lo, min(hi, bg_max))

    and stores it (buffer ``target``); :meth:`loss` is
    ``mean_i (log t_i - a_i)^2`` with ``t`` constant. It is meant to be added
    to the detector's loss so that the detector's optimiser trains ``a``
    (with SGD at learning rate ``lr``, ``a`` relaxes towards ``log t`` by a
    factor ``2 lr / C`` per step, momentum aside); give ``a`` no weight
    decay (it would pull w towards 1). At a fixed point ``a = log t`` and,
    when ``sum t = C`` (background target not clamped), ``w = t``: the
    foreground equations hold and ``sum w = C``.

    Conditioning. ``t_bg = C - sum_fg t_i`` subtracts two numbers of size
    about C to get one of size ``t_bg``: relative errors of the foreground
    targets are amplified by ``C / t_bg``, and the linearised map
    ``a -> log t`` has an eigenvalue of about ``-C / t_bg``. Plain SGD on
    :meth:`loss` is therefore stable only for ``lr`` below about ``t_bg``
    (``>= lo``; heavy-ball momentum ``mu`` allows ``(1 + mu)`` times more),
    whatever C is, and its slowest modes relax at ``2 lr / C`` per step:
    with the detector's SGD (lr 0.01, momentum 0.9) about ``C / 0.2``
    iterations per e-fold, i.e. ~400 on COCO, ~6000 on LVIS. With a
    background lower bound far below 1/3 it also has spurious clamped fixed
    points (``t_bg`` stuck at ``lo``). The ``power`` solver has neither
    problem.

    :meth:`fit` iterates solve + gradient step on its own (tests,
    benchmarks, offline use).

    Extra state: ``a`` (parameter), ``target`` ``(C,)`` float64,
    ``has_target`` int64 (0 until the first :meth:`solve`).
    """

    learnable = True

    def __init__(self, num_classes: int, **kwargs) -> None:
        super().__init__(num_classes, **kwargs)
        if self.normalization != 'all':
            raise ValueError(
                "the jacobi solver normalises over all classes (w = C * "
                f"softmax(a)); normalization={self.normalization!r} (a "
                "sigmoid classifier) needs solver=dict(type='direct') or "
                "'power'")
        self.a = nn.Parameter(torch.zeros(self.num_outputs))
        self.register_buffer(
            'target', torch.ones(self.num_outputs, dtype=torch.float64))
        self.register_buffer('has_target', torch.zeros((), dtype=torch.long))
        self._has_target = False  # host mirror of ``has_target``

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)
        self._has_target = bool(self.has_target.item())

    def raw_weights(self) -> Tensor:
        """``C * softmax(a)``, ``(C,)`` float64, detached."""
        return self.num_outputs * torch.softmax(
            self.a.detach().to(torch.float64), dim=0)

    def current_weights(self) -> Tensor:
        return self.clamp(self.raw_weights())

    @torch.no_grad()
    def solve(self, G: Tensor) -> Tensor:
        G = self._check(G)
        if not G.is_floating_point():
            G = G.to(torch.float64)
        C = self.num_outputs
        lo, hi = self.weight_bounds
        P = positive_gradients(G).to(torch.float64)
        act = active_classes(P, self.active_tol)
        w = self.raw_weights()
        inflow = negative_inflow(G, w).to(torch.float64)
        t = torch.where(act, inflow / torch.where(act, P, 1.0), self.target)
        t[-1] = C - t[:-1].sum()
        t = t.clamp(lo, hi)
        t[-1] = t[-1].clamp(max=max(lo, min(hi, self.bg_max)))
        self.target.copy_(t)
        self.has_target.fill_(1)
        self._has_target = True
        self.weights.copy_(self.clamp(w))
        return self.weights

    def loss(self) -> Tensor:
        """``mean_i (log t_i - a_i)^2`` (``0 * sum(a)`` before any target,
        so that the parameter always takes part in the graph)."""
        if not self._has_target:
            return self.a.sum() * 0.0
        t = self.target.log().to(self.a.dtype)
        return (t - self.a).pow(2).mean()

    def fit(self,
            G: Tensor,
            num_steps: int = 3000,
            lr: Optional[float] = None) -> Tensor:
        """Iterate target + plain SGD step ``num_steps`` times on a fixed G.

        Args:
            G (Tensor): ``(C, C)``.
            num_steps (int): iterations.
            lr (float, optional): SGD learning rate on :meth:`loss`;
                default ``lo / 2``, inside the stability limit (see the class
                docstring), i.e. ``a <- a + (lo / C) (log t - a)``.

        Returns:
            Tensor: ``(C,)`` clamped weights after the last step.
        """
        lr = self.weight_bounds[0] / 2.0 if lr is None else float(lr)
        opt = torch.optim.SGD([self.a], lr=lr)
        for _ in range(int(num_steps)):
            self.solve(G)
            opt.zero_grad(set_to_none=True)
            with torch.enable_grad():
                self.loss().backward()
            opt.step()
        self.a.grad = None
        return self.solve(G)
