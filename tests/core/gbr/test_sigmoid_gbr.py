"""Tests of GbR for sigmoid classifiers (``cissod_core.gbr.sigmoid_*``).

References: autograd of a focal loss written here with plain torch ops (for
the closed-form logit gradients) and a naive per-sample, per-logit loop (for
the gradient matrix). float64 on the CPU.
"""
import copy
from typing import Optional, Tuple

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from cissod_core.gbr import (
    DirectSolver,
    GradientBalancer,
    JacobiSolver,
    PowerSolver,
    accumulate_sigmoid_gradients,
    balance_residual,
    sigmoid_focal_phi,
    sigmoid_gradient_matrix,
    sigmoid_logit_gradients,
)

D = torch.float64


def reference_loss(z: Tensor, labels: Tensor, gamma: float,
                   focal_alpha: Optional[float],
                   weights: Optional[Tensor]) -> Tensor:
    """Summed sigmoid focal loss, the textbook way (autograd-able)."""
    n = z.shape[1]
    valid = ((labels >= 0) & (labels <= n)).to(z.dtype)
    t = F.one_hot(labels.clamp(0, n), n + 1)[:, :n].to(z.dtype)
    p = torch.sigmoid(z)
    pt = p * t + (1 - p) * (1 - t)
    a_pos, a_neg = (1.0, 1.0) if focal_alpha is None else (
        focal_alpha, 1.0 - focal_alpha)
    at = a_pos * t + a_neg * (1 - t)
    loss = at * (1 - pt).pow(gamma) * -torch.log(pt)
    loss = loss * valid[:, None]
    if weights is not None:
        loss = loss * (weights[:, None] if weights.dim() == 1 else weights)
    return loss.sum()


def dense_batch(n: int, R: int, seed: int, bg_share: float = 0.9,
                spread: float = 0.7) -> Tuple[Tensor, Tensor]:
    """Dense-head-like statistics: mostly background samples scored near
    the focal prior (``sigmoid(-4.6) ~ 0.01``), foreground samples scored
    higher on their own logit, a fifth of them also on a neighbouring
    class's logit (confusion), long-tailed class frequencies."""
    g = torch.Generator().manual_seed(seed)
    freq = 1.0 / torch.arange(1, n + 1, dtype=D)
    fg_labels = torch.multinomial(freq, R, replacement=True, generator=g)
    is_bg = torch.rand(R, generator=g, dtype=D) < bg_share
    labels = torch.where(is_bg, torch.full_like(fg_labels, n), fg_labels)
    labels[:n + 1] = torch.arange(n + 1)  # every class present
    z = torch.randn(R, n, generator=g, dtype=D) * spread - 4.6
    fg = (labels < n).nonzero().view(-1)
    own = labels[fg]
    z[fg, own] += 2.0 + 5.0 * torch.rand(len(fg), generator=g, dtype=D)
    confused = fg[torch.rand(len(fg), generator=g, dtype=D) < 0.2]
    if n > 1:
        other = (labels[confused] + 1) % n
        z[confused, other] += 3.0 * torch.rand(len(confused), generator=g,
                                               dtype=D)
    return z, labels


# --------------------------------------------------------------------------
# closed-form logit gradients


@pytest.mark.parametrize('gamma', [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize('focal_alpha', [None, 0.25])
@pytest.mark.parametrize('weight_kind', ['none', 'sample', 'logit'])
def test_sigmoid_logit_gradients_match_autograd(gamma, focal_alpha,
                                                weight_kind):
    g = torch.Generator().manual_seed(0)
    R, n = 40, 5
    z = (torch.randn(R, n, generator=g, dtype=D) * 4).requires_grad_()
    labels = torch.randint(0, n + 1, (R, ), generator=g)
    labels[:3] = torch.tensor([-1, n, 0])  # ignored, background, fg
    weights = dict(none=None,
                   sample=torch.rand(R, generator=g, dtype=D),
                   logit=torch.rand(R, n, generator=g, dtype=D))[weight_kind]
    loss = reference_loss(z, labels, gamma, focal_alpha, weights)
    expected, = torch.autograd.grad(loss, z)
    got = sigmoid_logit_gradients(z, labels, weights, gamma, focal_alpha)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    assert (got[0] == 0).all()  # the ignored sample


@pytest.mark.parametrize('gamma', [0.0, 0.3, 2.0])
def test_phi_is_finite_and_exact_at_extreme_logits(gamma):
    z = torch.tensor([-1e4, -60.0, -30.0, -1e-8, 0.0, 1e-8, 30.0, 60.0,
                      1e4], dtype=D)
    phi = sigmoid_focal_phi(z, gamma)
    assert torch.isfinite(phi).all() and (phi >= 0).all()
    assert torch.isfinite(sigmoid_focal_phi(-z, gamma)).all()
    # float32 too
    assert torch.isfinite(sigmoid_focal_phi(z.float(), gamma)).all()
    # autograd where the textbook form is still accurate
    zz = z[2:-2].clone().requires_grad_()
    loss = (torch.sigmoid(zz).pow(gamma) * F.softplus(zz)).sum()
    d, = torch.autograd.grad(loss, zz)
    torch.testing.assert_close(sigmoid_focal_phi(zz.detach(), gamma), d,
                               rtol=1e-10, atol=1e-300)


def test_phi_gamma_zero_is_bce():
    z = torch.linspace(-8, 8, 33, dtype=D)
    torch.testing.assert_close(sigmoid_focal_phi(z, 0.0), torch.sigmoid(z))
    with pytest.raises(ValueError, match='gamma'):
        sigmoid_focal_phi(z, -1.0)


# --------------------------------------------------------------------------
# the gradient matrix


def naive_sigmoid_matrix(z, labels, weights, gamma, focal_alpha):
    """N ``(n+1, n)`` and P ``(n,)`` by one autograd call per sample."""
    R, n = z.shape
    N = torch.zeros(n + 1, n, dtype=D)
    P = torch.zeros(n, dtype=D)
    for r in range(R):
        k = int(labels[r])
        if not 0 <= k <= n:
            continue
        zr = z[r:r + 1].clone().requires_grad_()
        w = None if weights is None else weights[r:r + 1]
        grad, = torch.autograd.grad(
            reference_loss(zr, labels[r:r + 1], gamma, focal_alpha, w), zr)
        for i in range(n):
            if i == k:
                P[i] -= grad[0, i]  # positive gradient (dl/dz <= 0)
            else:
                N[k, i] += grad[0, i]
    return N, P


@pytest.mark.parametrize('gamma,focal_alpha', [(0.0, None), (2.0, 0.25),
                                               (1.5, None)])
@pytest.mark.parametrize('weight_kind', ['none', 'sample', 'logit'])
def test_sigmoid_matrix_matches_naive_loop(gamma, focal_alpha, weight_kind):
    g = torch.Generator().manual_seed(1)
    R, n = 60, 4
    z = torch.randn(R, n, generator=g, dtype=D) * 3
    labels = torch.randint(-1, n + 1, (R, ), generator=g)
    weights = dict(none=None,
                   sample=torch.rand(R, generator=g, dtype=D),
                   logit=torch.rand(R, n, generator=g, dtype=D))[weight_kind]
    N, P = naive_sigmoid_matrix(z, labels, weights, gamma, focal_alpha)
    G = sigmoid_gradient_matrix(z, labels, weights, gamma, focal_alpha,
                                normalizer=1.0)
    off = ~torch.eye(n + 1, n, dtype=torch.bool)
    torch.testing.assert_close(G[:, :n][off], N[off], rtol=1e-10,
                               atol=1e-12)
    torch.testing.assert_close(-G.diagonal()[:n], P, rtol=1e-10, atol=1e-12)
    # the slack column and the background row: every row sums to zero
    torch.testing.assert_close(G[:n, n], P - N[:n].sum(1), rtol=1e-10,
                               atol=1e-12)
    torch.testing.assert_close(G[n, n], -N[n].sum())
    assert G.sum(1).abs().max() < 1e-12


def test_sigmoid_matrix_normalisation_and_accumulation():
    z, labels = dense_batch(6, 500, seed=2)
    G1 = sigmoid_gradient_matrix(z, labels, gamma=2.0, focal_alpha=0.25)
    G7 = sigmoid_gradient_matrix(z, labels, gamma=2.0, focal_alpha=0.25,
                                 normalizer=7.0)
    torch.testing.assert_close(G1 * 500 / 7, G7)
    # two half batches accumulate to the whole
    out = torch.zeros(7, 7, dtype=D)
    accumulate_sigmoid_gradients(out, z[:200], labels[:200], None, 2.0,
                                 0.25, alpha=0.5)
    accumulate_sigmoid_gradients(out, z[200:], labels[200:], None, 2.0,
                                 0.25, alpha=0.5)
    assert (out.diagonal() == 0).all()  # the diagonal is never written
    whole = torch.zeros(7, 7, dtype=D)
    accumulate_sigmoid_gradients(whole, z, labels, None, 2.0, 0.25,
                                 alpha=0.5)
    torch.testing.assert_close(out, whole)


def test_sigmoid_matrix_edge_cases():
    n = 3
    empty = sigmoid_gradient_matrix(torch.zeros(0, n, dtype=D),
                                    torch.zeros(0, dtype=torch.long))
    assert empty.shape == (n + 1, n + 1) and (empty == 0).all()
    z = torch.randn(5, n, dtype=D)
    ignored = sigmoid_gradient_matrix(z, torch.full((5, ), -1))
    assert (ignored == 0).all()
    zero_w = sigmoid_gradient_matrix(z, torch.tensor([0, 1, 2, 3, 0]),
                                     torch.zeros(5, dtype=D))
    assert (zero_w == 0).all()
    with pytest.raises(ValueError, match=r'\(R, n\)'):
        sigmoid_gradient_matrix(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match='out must be'):
        accumulate_sigmoid_gradients(torch.zeros(n, n, dtype=D), z,
                                     torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match='labels for'):
        accumulate_sigmoid_gradients(torch.zeros(n + 1, n + 1, dtype=D), z,
                                     torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match='label_weights'):
        sigmoid_gradient_matrix(z, torch.zeros(5, dtype=torch.long),
                                torch.ones(5, n + 1, dtype=D))
    with pytest.raises(ValueError, match='focal_alpha'):
        sigmoid_gradient_matrix(z, torch.zeros(5, dtype=torch.long),
                                focal_alpha=1.5)
    # float16 logits: statistics in float32, close to the float64 ones
    z, labels = dense_batch(4, 300, seed=3)
    G16 = sigmoid_gradient_matrix(z.half(), labels, gamma=2.0,
                                  focal_alpha=0.25)
    assert G16.dtype == torch.float32
    G64 = sigmoid_gradient_matrix(z.half().double(), labels, gamma=2.0,
                                  focal_alpha=0.25)
    torch.testing.assert_close(G16.double(), G64, rtol=1e-4, atol=1e-7)


# --------------------------------------------------------------------------
# solvers on sigmoid statistics


@pytest.mark.parametrize('n', [1, 5, 40])
def test_solvers_balance_the_foreground_logits(n):
    """On dense-head statistics with every slack >= 0 (G is a Markov
    generator), power and direct give the same weights, and they satisfy
    the n foreground equations ``w_i P_i = sum_{k != i} w_k N[k, i]``
    (k over the foreground *and* the background) with the foreground
    weights summing to n."""
    z, labels = dense_batch(n, 4000, seed=0, spread=0.5)
    G = sigmoid_gradient_matrix(z, labels, gamma=2.0, focal_alpha=0.25)
    assert (G[:n, n] >= 0).all()
    wide = dict(num_classes=n, weight_bounds=(1e-4, 1e4), bg_max=1e4,
                normalization='foreground')
    w_p = PowerSolver(max_iter=20000, tol=1e-13, **wide).solve(G)
    w_d = DirectSolver(**wide).solve(G)
    torch.testing.assert_close(w_p, w_d, rtol=1e-8, atol=1e-8)
    N = G[:, :n].clone()
    N[torch.arange(n), torch.arange(n)] = 0
    P = -G.diagonal()[:n]
    lhs = w_d[:n] * P
    rhs = (w_d[:, None] * N).sum(0)
    torch.testing.assert_close(lhs, rhs, rtol=1e-9, atol=1e-12)
    assert abs(float(w_d[:n].sum()) - n) < 1e-9
    assert balance_residual(G, w_d, per_class=True) < 1e-9
    # normalising over all classes gives the same ratios
    w_all = DirectSolver(**{**wide, 'normalization': 'all'}).solve(G)
    torch.testing.assert_close(w_all / w_all[0], w_d / w_d[0])
    if n <= 5:
        w_j = JacobiSolver(**{**wide, 'normalization': 'all'}).fit(
            G, 4000, lr=0.05)
        torch.testing.assert_close(w_j, w_all, rtol=1e-5, atol=1e-5)


def test_unbalanceable_sigmoid_statistics_give_bounded_weights():
    """Many confusable classes: the foreground samples push more negative
    gradient onto other foreground logits than positive gradient onto their
    own (negative slack), the equations have no positive solution; the
    solvers still return finite weights inside the bounds and the residual
    reports the imbalance."""
    n = 200
    z, labels = dense_batch(n, 4000, seed=0, spread=1.5)
    G = sigmoid_gradient_matrix(z, labels, gamma=2.0, focal_alpha=0.25)
    assert (G[:n, n] < 0).sum() > n // 2
    for solver in (PowerSolver(n, normalization='foreground'),
                   DirectSolver(n, normalization='foreground')):
        w = solver.solve(G)
        assert torch.isfinite(w).all()
        assert (w >= 1 / 3 - 1e-12).all() and (w <= 5 + 1e-12).all()
        assert w[-1] <= 1.0
        assert balance_residual(G, w, per_class=True) > 0.1


def test_jacobi_refuses_foreground_normalisation():
    with pytest.raises(ValueError, match='jacobi solver normalises'):
        JacobiSolver(3, normalization='foreground')
    with pytest.raises(ValueError, match='normalization must be'):
        PowerSolver(3, normalization='fg')


def test_rare_class_confused_with_frequent_one_gets_a_larger_weight():
    """Class 1 is rare and its samples are scored high on class 0 (and
    class 0's samples on class 1): the balance raises w_1 above w_0."""
    g = torch.Generator().manual_seed(0)
    n, R = 3, 3000
    labels = torch.full((R, ), n)
    labels[:600] = 0
    labels[600:630] = 1
    labels[630:900] = 2
    z = torch.randn(R, n, generator=g, dtype=D) - 4.0
    z[:600, 0] += 5.0
    z[:600, 1] += 3.0  # frequent class pushes hard on the rare logit
    z[600:630, 1] += 4.0
    z[630:900, 2] += 5.0
    G = sigmoid_gradient_matrix(z, labels, gamma=2.0, focal_alpha=0.25)
    w = DirectSolver(num_classes=n, weight_bounds=(1e-3, 1e3), bg_max=1e3,
                     normalization='foreground').solve(G)
    assert w[1] > 2 * w[0] and w[1] > w[2]


# --------------------------------------------------------------------------
# the balancer with classifier='sigmoid'


def test_balancer_records_sigmoid_statistics():
    n = 5
    z, labels = dense_batch(n, 400, seed=4)
    lw = torch.rand(400, dtype=D)
    bal = GradientBalancer(n, warmup_iters=1, classifier='sigmoid',
                           gamma=2.0, focal_alpha=0.25, stat_dtype=D)
    assert bal.num_logits == n and bal.num_outputs == n + 1
    bal.record(z[:150], labels[:150], lw[:150], 'labeled', 1.0,
               normalizer=10.0)
    bal.record(z[150:], labels[150:], lw[150:], 'unlabeled', 4.0,
               normalizer=10.0)
    assert bal.step()
    expected = (sigmoid_gradient_matrix(z[:150], labels[:150], lw[:150],
                                        2.0, 0.25, normalizer=10.0) +
                4.0 * sigmoid_gradient_matrix(z[150:], labels[150:],
                                              lw[150:], 2.0, 0.25,
                                              normalizer=10.0))
    torch.testing.assert_close(bal.gradient_matrix, expected)
    w = bal.weights
    assert not bal.in_warmup and torch.isfinite(w).all()
    # state dict round trip
    clone = GradientBalancer(n, warmup_iters=1, classifier='sigmoid',
                             gamma=2.0, focal_alpha=0.25, stat_dtype=D)
    clone.load_state_dict(copy.deepcopy(bal.state_dict()))
    torch.testing.assert_close(clone.weights, w)
    # per-sample weights: background samples get the background weight
    u = bal.roi_weights(torch.tensor([0, n, n]), 'labeled')
    assert torch.isclose(u[1], u[2])


def test_balancer_sigmoid_errors():
    with pytest.raises(ValueError, match='classifier'):
        GradientBalancer(3, classifier='softplus')
    with pytest.raises(ValueError, match='sigmoid classifiers only'):
        GradientBalancer(3, focal_alpha=0.25)
    bal = GradientBalancer(3, classifier='sigmoid')
    with pytest.raises(ValueError, match=r'sigmoid logits must be \(R, 3\)'):
        bal.record(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long))
