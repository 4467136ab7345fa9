"""Tests of the pure-torch GbR core (``cissod_core.gbr``).

float64 on the CPU unless a test is about another dtype. References are
autograd (for the closed-form logit gradients) and a naive per-RoI
outer-product loop (for the gradient matrix).
"""
import copy
import io
from typing import List, Optional, Tuple

import pytest
import torch
from torch import Tensor

from cissod_core.gbr import (
    BaseSolver,
    DirectSolver,
    GradientBalancer,
    JacobiSolver,
    PowerSolver,
    RunningAverage,
    accumulate_negative_gradients,
    balance_residual,
    batch_gradient_matrix,
    clamp_class_weights,
    gradient_scale,
    logit_gradients,
    roi_class_weights,
)

#: the solvers by the names configs use (the glue's GBR_SOLVERS registry)
SOLVERS = dict(power=PowerSolver, direct=DirectSolver, jacobi=JacobiSolver)


def build_solver(cfg: dict, **defaults) -> BaseSolver:
    """``SOLVERS[cfg['type']]`` built with ``defaults`` updated by ``cfg``."""
    cfg = dict(cfg)
    return SOLVERS[cfg.pop('type')](**{**defaults, **cfg})


D = torch.float64
LO, HI = 1.0 / 3.0, 5.0


# --------------------------------------------------------------------------
# helpers


def random_batch(R: int, C: int, seed: int, scale: float = 3.0,
                 classes: Optional[List[int]] = None,
                 dtype: torch.dtype = D) -> Tuple[Tensor, Tensor, Tensor]:
    """Random logits / labels (always including the background C-1) /
    label weights."""
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(R, C, generator=g, dtype=D) * scale).to(dtype)
    pool = torch.tensor(classes if classes is not None else list(range(C)))
    labels = pool[torch.randint(0, len(pool), (R, ), generator=g)]
    if R > 0 and (classes is None or C - 1 in classes):
        labels[0] = C - 1
    weights = torch.rand(R, generator=g, dtype=D)
    return logits, labels, weights


def loss_per_roi(logits: Tensor, labels: Tensor, gamma: float) -> Tensor:
    """Reference loss ``-(1 - p_y)^gamma log p_y`` through autograd-able
    ops."""
    logp = torch.log_softmax(logits, dim=1).gather(1, labels[:, None])[:, 0]
    p = logp.exp()
    return -(1.0 - p).pow(gamma) * logp


def autograd_logit_grad(logits: Tensor, labels: Tensor, weights: Tensor,
                        gamma: float) -> Tensor:
    z = logits.detach().clone().requires_grad_(True)
    (loss_per_roi(z, labels, gamma) * weights).sum().backward()
    return z.grad


def naive_gradient_matrix(logits: Tensor, labels: Tensor, weights: Tensor,
                          gamma: float) -> Tensor:
    """Per-RoI outer product ``onehot(y_r) x dl_r/dz_r`` summed, / R: the
    O(R C^2) definition, with the per-RoI gradients taken from autograd."""
    R, C = logits.shape
    G = torch.zeros(C, C, dtype=D)
    if R == 0:
        return G
    grads = autograd_logit_grad(logits.to(D), labels, weights.to(D), gamma)
    for r in range(R):
        onehot = torch.zeros(C, dtype=D)
        onehot[labels[r]] = 1.0
        G += torch.outer(onehot, grads[r])
    return G / R


def known_balanced_G(C: int, seed: int,
                     zero_frac: float = 0.2) -> Tuple[Tensor, Tensor]:
    """A G whose balanced weights ``w*`` (sum C, inside the clamp bounds,
    background <= 1) are known: N >= 0 random (some zeros), then
    ``P_i := sum_{k != i} w*_k N[k, i] / w*_i``."""
    g = torch.Generator().manual_seed(seed)
    N = torch.rand(C, C, generator=g, dtype=D) * 3.0
    N = N * (torch.rand(C, C, generator=g, dtype=D) > zero_frac)
    N.fill_diagonal_(0.0)
    N[:, -1] += 0.5  # everyone pushes onto the background: irreducible
    N[-1, :-1] += 0.1
    N.fill_diagonal_(0.0)
    w = 0.6 + 2.0 * torch.rand(C, generator=g, dtype=D)
    w[-1] = 0.5
    w[:-1] *= (C - 0.5) / w[:-1].sum()
    assert bool((w > LO).all() and (w < HI).all() and w[-1] <= 1.0)
    P = (N * w[:, None]).sum(0) / w
    return N - torch.diag(P), w


def long_tail_batch(n: int, R: int, gen: torch.Generator,
                    dtype: torch.dtype = D):
    """A long-tailed detection-like batch (75 % background)."""
    C = n + 1
    freq = torch.arange(1, n + 1, dtype=D).pow(-1.2)
    labels = torch.full((R, ), n, dtype=torch.long)
    nb = (3 * R) // 4
    labels[nb:] = torch.multinomial(freq, R - nb, True, generator=gen)
    logits = torch.randn(R, C, generator=gen, dtype=D)
    logits[:, -1] += 1.5
    logits[torch.arange(R), labels] += 2.5
    return logits.to(dtype), labels, torch.rand(R, generator=gen, dtype=D)


# --------------------------------------------------------------------------
# logit gradients


@pytest.mark.parametrize('gamma', [0.0, 0.5, 1.0, 2.0])
def test_logit_gradients_match_autograd(gamma):
    logits, labels, weights = random_batch(67, 7, seed=1)
    ours = logit_gradients(logits, labels, weights, gamma)
    ref = autograd_logit_grad(logits, labels, weights, gamma)
    assert ours.dtype == D and ours.shape == (67, 7)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-14)
    # without label weights: L = sum_r l_r
    torch.testing.assert_close(
        logit_gradients(logits, labels, None, gamma),
        autograd_logit_grad(logits, labels, torch.ones(67, dtype=D), gamma),
        rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize('gamma', [0.0, 0.25, 0.5, 1.0, 2.0, 3.5])
def test_gradient_scale_matches_derivative_and_is_safe(gamma):
    p = torch.linspace(0.01, 0.99, 50, dtype=D).requires_grad_(True)
    f = -(1.0 - p).pow(gamma) * torch.log(p)
    (fprime, ) = torch.autograd.grad(f.sum(), p)
    ref = -fprime * p.detach()
    torch.testing.assert_close(gradient_scale(p.detach(), gamma), ref,
                               rtol=1e-12, atol=1e-14)
    # the end points and their neighbourhoods: finite, >= 0, right limits
    edge = torch.tensor([0.0, 1e-300, 1e-12, 0.5, 1 - 1e-12, 1 - 1e-16, 1.0],
                        dtype=D)
    g = gradient_scale(edge, gamma)
    assert bool(torch.isfinite(g).all()) and bool((g >= 0).all())
    assert g[0].item() == 1.0  # p = 0: g = 1 for every gamma
    if gamma == 0.0:
        assert torch.equal(g, torch.ones_like(g))
    else:
        assert g[-1].item() == 0.0  # p = 1: no gradient left
        # near p = 1: g ~ (1 + gamma) (1 - p)^gamma
        q = torch.tensor(1e-9, dtype=D)
        approx = (1 + gamma) * q**gamma
        torch.testing.assert_close(gradient_scale(1 - q, gamma), approx,
                                   rtol=1e-6, atol=0.0)
    with pytest.raises(ValueError):
        gradient_scale(edge, -1.0)


def test_logit_gradients_extreme_logits_are_finite():
    logits, labels, weights = random_batch(32, 5, seed=2, scale=400.0)
    for gamma in (0.0, 0.5, 2.0):
        grad = logit_gradients(logits, labels, weights, gamma)
        assert bool(torch.isfinite(grad).all())
        G = batch_gradient_matrix(logits, labels, weights, gamma)
        assert bool(torch.isfinite(G).all())


# --------------------------------------------------------------------------
# gradient matrix


@pytest.mark.parametrize('gamma', [0.0, 0.5, 1.0, 2.0])
def test_gradient_matrix_matches_naive_outer_products(gamma):
    C = 9
    # R = 67: not a multiple of 64 (the reference drops the tail) or of any
    # chunk; classes 1, 3, 4, 6, 7 are absent from the batch
    logits, labels, weights = random_batch(67, C, seed=3,
                                           classes=[0, 2, 5, 8])
    G = batch_gradient_matrix(logits, labels, weights, gamma, num_classes=C)
    ref = naive_gradient_matrix(logits, labels, weights, gamma)
    assert G.shape == (C, C) and G.dtype == D
    torch.testing.assert_close(G, ref, rtol=1e-12, atol=1e-15)
    absent = [1, 3, 4, 6, 7]
    assert torch.equal(G[absent], torch.zeros(len(absent), C, dtype=D))
    # absent classes still receive negative gradient from the others
    assert bool((G[[0, 2, 5, 8]][:, absent] > 0).all())
    # rows sum to zero: P_k = sum_{i != k} N[k, i]
    torch.testing.assert_close(G.sum(1), torch.zeros(C, dtype=D),
                               rtol=0.0, atol=1e-15)
    assert bool((G.diagonal() <= 0).all())
    off = G - torch.diag(G.diagonal())
    assert bool((off >= 0).all())


def test_gradient_matrix_defaults_and_edge_cases():
    C = 6
    logits, labels, _ = random_batch(67, C, seed=4)
    # no label weights == weights of one
    torch.testing.assert_close(
        batch_gradient_matrix(logits, labels),
        naive_gradient_matrix(logits, labels, torch.ones(67, dtype=D), 0.0),
        rtol=1e-12, atol=1e-15)
    # empty batch: zero matrix, right shape and dtype
    G0 = batch_gradient_matrix(torch.zeros(0, C, dtype=D),
                               torch.zeros(0, dtype=torch.long))
    assert torch.equal(G0, torch.zeros(C, C, dtype=D))
    # labels outside [0, C) contribute nothing (but are counted in R)
    bad = labels.clone()
    bad[:10] = -1
    keep = torch.arange(67) >= 10
    G_bad = batch_gradient_matrix(logits, bad)
    G_keep = batch_gradient_matrix(logits[keep], labels[keep]) * 57 / 67
    torch.testing.assert_close(G_bad, G_keep, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError):
        batch_gradient_matrix(logits, labels, num_classes=C + 1)
    # precomputed probabilities give the same statistics, untouched
    probs = torch.softmax(logits, dim=1)
    probs_copy = probs.clone()
    out_a = torch.zeros(C, C, dtype=D)
    out_b = torch.zeros(C, C, dtype=D)
    accumulate_negative_gradients(out_a, logits, labels, None, 1.0, 0.5)
    accumulate_negative_gradients(out_b, logits, labels, None, 1.0, 0.5,
                                  probs=probs)
    torch.testing.assert_close(out_a, out_b, rtol=1e-14, atol=1e-16)
    assert torch.equal(probs, probs_copy)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_gradient_matrix_low_precision_logits(dtype):
    C = 11
    logits, labels, weights = random_batch(200, C, seed=5, dtype=dtype)
    z = logits.clone().requires_grad_(True)
    G = batch_gradient_matrix(z, labels, weights.to(dtype), gamma=1.0)
    assert G.dtype == torch.float32
    assert G.grad_fn is None and not G.requires_grad and z.grad is None
    ref = naive_gradient_matrix(logits.to(D), labels,
                                weights.to(dtype).to(D), 1.0)
    torch.testing.assert_close(G.to(D), ref, rtol=1e-4, atol=1e-6)


def test_gradient_matrix_is_fast_at_lvis_scale():
    """O(R*C): a naive O(R*C^2) formulation needs > 10 GFLOP here."""
    import time
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2560, 1204, generator=g)
    labels = torch.randint(0, 1204, (2560, ), generator=g)
    batch_gradient_matrix(logits, labels)
    t = time.perf_counter()
    G = batch_gradient_matrix(logits, labels, torch.rand(2560, generator=g))
    assert time.perf_counter() - t < 2.0
    assert G.shape == (1204, 1204)


# --------------------------------------------------------------------------
# accumulator


def test_running_average_exact_mean_then_ema():
    g = torch.Generator().manual_seed(6)
    xs = torch.randn(30, 3, 4, generator=g, dtype=D)
    acc = RunningAverage((3, 4), momentum=0.9, exact_updates=10)
    for n in range(1, 31):
        acc.update(xs[n - 1])
        if n <= 10:
            torch.testing.assert_close(acc.value, xs[:n].mean(0), rtol=1e-13,
                                       atol=1e-14)
    ref = xs[:10].mean(0)
    for n in range(11, 31):
        ref = 0.9 * ref + 0.1 * xs[n - 1]
    torch.testing.assert_close(acc.value, ref, rtol=1e-13, atol=1e-14)
    assert acc.num_updates == 30 and int(acc.count) == 30
    # exact_updates = 0 still copies the first value (no bias towards 0)
    ema = RunningAverage((), momentum=0.5, exact_updates=0)
    ema.update(4.0)
    assert ema.value.item() == 4.0
    ema.update(2.0)
    assert ema.value.item() == 3.0
    # default exact phase: 1 / (1 - momentum)
    assert RunningAverage((), momentum=0.999).exact_updates == 1000


# --------------------------------------------------------------------------
# solvers


def _assert_good_weights(w: Tensor, C: int, sum_tol: float = 1e-6) -> None:
    assert w.shape == (C, )
    assert bool(torch.isfinite(w).all()) and bool((w > 0).all())
    assert bool((w >= LO - 1e-12).all() and (w <= HI + 1e-12).all())
    assert w[-1].item() <= 1.0 + 1e-12
    assert abs(w.sum().item() - C) < sum_tol * C


@pytest.mark.parametrize('C', [2, 5, 21])
def test_solvers_find_known_balanced_solution(C):
    G, w_star = known_balanced_G(C, seed=C)
    assert balance_residual(G, w_star).item() < 1e-14
    assert balance_residual(G, torch.ones(C, dtype=D)).item() > 1e-3

    power = build_solver(dict(type='power', tol=1e-12, max_iter=10000),
                         num_classes=C - 1)
    w_p = power.solve(G)
    direct = build_solver(dict(type='direct'), num_classes=C - 1)
    w_d = direct.solve(G)
    # the paper's module, trained by its own plain SGD on its loss
    jac = build_solver(dict(type='jacobi'), num_classes=C - 1)
    opt = torch.optim.SGD(jac.parameters(), lr=0.25)
    for _ in range(3000):
        jac.solve(G)
        opt.zero_grad()
        jac.loss().backward()
        opt.step()
    w_j = jac.solve(G)
    w_fit = build_solver(dict(type='jacobi'), num_classes=C - 1).fit(G, 3000)

    for w, tol in ((w_p, 1e-9), (w_d, 1e-10), (w_j, 1e-5), (w_fit, 1e-5)):
        _assert_good_weights(w, C)
        torch.testing.assert_close(w, w_star, rtol=tol, atol=tol)
        assert balance_residual(G, w).item() < 10 * tol
        assert balance_residual(G, w, per_class=True).item() < 10 * tol
    torch.testing.assert_close(w_p, w_j, rtol=1e-5, atol=1e-5)
    assert jac.loss().item() < 1e-10


def test_power_damping_matters_for_bipartite_chain():
    """n = 1: the plain Jacobi map has eigenvalues +-1 and never converges;
    the default damped map does, to the exact balance."""
    G, w_star = known_balanced_G(2, seed=7)
    plain = build_solver(dict(type='power', damping=1.0, max_iter=500,
                              tol=1e-10), num_classes=1)
    assert not torch.allclose(w_star, torch.ones(2, dtype=D))
    plain.solve(G)
    assert int(plain.last_iters) == 500  # oscillates
    damped = build_solver(dict(type='power', max_iter=500, tol=1e-12),
                          num_classes=1)
    damped.solve(G)
    assert int(damped.last_iters) < 100
    torch.testing.assert_close(damped.weights, w_star, rtol=1e-10,
                               atol=1e-10)


@pytest.mark.parametrize('n', [1, 4, 30])
def test_solvers_agree_on_real_gradient_matrix(n):
    """A G from softmax statistics has rows summing to 0: the balance
    equations are exactly solvable and the solvers agree (wide bounds so
    that no clamp binds)."""
    gen = torch.Generator().manual_seed(n)
    logits, labels, weights = long_tail_batch(n, 600, gen, dtype=D)
    labels[:n + 1] = torch.arange(n + 1)  # every class present
    G = batch_gradient_matrix(logits * 0.3, labels, weights)
    wide = dict(num_classes=n, weight_bounds=(1e-3, 1e3), bg_max=1e3)
    w_p = build_solver(dict(type='power', tol=1e-12, max_iter=10000),
                       **wide).solve(G)
    w_d = build_solver(dict(type='direct'), **wide).solve(G)
    for w in (w_p, w_d):
        assert bool(torch.isfinite(w).all()) and bool((w > 0).all())
        assert balance_residual(G, w, per_class=True) < 1e-9
        assert abs(w.sum().item() - (n + 1)) < 1e-9
    torch.testing.assert_close(w_p, w_d, rtol=1e-9, atol=1e-9)
    # the paper's module: t_bg = C - sum t_fg is ill-conditioned when the
    # balanced background weight is small (~0.01 at n = 30, see the
    # JacobiSolver docstring); compare where it converges in a few steps
    if n <= 4:
        w_j = build_solver(dict(type='jacobi'), **wide).fit(G, 4000,
                                                             lr=0.05)
        torch.testing.assert_close(w_j, w_p, rtol=1e-5, atol=1e-5)


def test_solvers_clamp_and_handle_inactive_classes():
    C = 6
    # class 2 has no RoI at all (zero positive gradient): inactive
    logits, labels, weights = random_batch(300, C, seed=8,
                                           classes=[0, 1, 3, 4, 5])
    G = batch_gradient_matrix(logits, labels, weights)
    assert G[2, 2].item() == 0.0 and bool((G[:, 2] >= 0).all())
    for name in SOLVERS:
        solver = build_solver(dict(type=name), num_classes=C - 1)
        w = solver.fit(G, 500) if name == 'jacobi' else solver.solve(G)
        assert bool(torch.isfinite(w).all())
        if name == 'jacobi':  # its target keeps 1; w follows up to the norm
            assert solver.target[2].item() == 1.0
        else:
            assert w[2].item() == 1.0  # keeps its (initial) weight
        assert bool((w >= LO - 1e-12).all() and (w <= HI + 1e-12).all())
        assert w[-1].item() <= 1.0 + 1e-12
        # a previous weight is kept while the class stays inactive
        if name == 'jacobi':
            solver.target[2] = 3.0
            solver.solve(G)
            assert solver.target[2].item() == 3.0
        else:
            solver.raw[2] = 3.0
            assert solver.solve(G)[2].item() == 3.0
    # all-zero G (nothing active): weights stay 1
    for name in SOLVERS:
        solver = build_solver(dict(type=name), num_classes=C - 1)
        w = solver.solve(torch.zeros(C, C, dtype=D))
        assert torch.equal(w, torch.ones(C, dtype=D))
    # strong imbalance: bounds bind, background capped at bg_max
    G_b, _ = known_balanced_G(C, seed=9)
    G_b[:, 0] *= 100.0  # class 0 is pushed down hard -> huge weight
    G_b[0, 0] = 0.0
    G_b[0, 0] = -G_b[0].sum() / 100.0
    for name in ('power', 'direct'):
        w = build_solver(dict(type=name), num_classes=C - 1,
                         bg_max=0.8).solve(G_b)
        assert w[0].item() == HI
        assert LO <= w[-1].item() <= 0.8


def test_clamp_and_roi_class_weights():
    w = torch.tensor([0.1, 7.0, float('nan'), 2.0, 3.0], dtype=D)
    c = clamp_class_weights(w, (LO, HI), bg_max=1.0)
    assert c.tolist() == [LO, HI, 1.0, 2.0, 1.0]
    assert clamp_class_weights(w, (LO, HI), bg_max=None)[-1].item() == 3.0
    labels = torch.tensor([0, 3, 4, -1, 5])
    u = roi_class_weights(c, labels, beta=0.5)
    torch.testing.assert_close(
        u, torch.tensor([LO**0.5, 2.0**0.5, 1.0, 1.0, 1.0], dtype=D))
    with pytest.raises(ValueError):
        clamp_class_weights(w, (0.0, 1.0))


# --------------------------------------------------------------------------
# balancer


def run_iteration(bal: GradientBalancer, gen: torch.Generator,
                  n: int, sgd: Optional[torch.optim.Optimizer] = None,
                  R: int = 67) -> Tensor:
    """One training iteration of both branches; returns the RoI weights."""
    out = []
    for branch, lw in (('labeled', 1.0), ('unlabeled', 4.0)):
        logits, labels, weights = long_tail_batch(n, R, gen)
        out.append(bal.roi_weights(labels, branch, weights))
        bal.record(logits, labels, weights, branch, lw)
    bal.record(*long_tail_batch(n, R, gen), branch=None)  # ignored
    if sgd is not None:
        sgd.zero_grad()
        bal.solver_loss().backward()
        sgd.step()
    bal.step()
    return torch.cat(out)


@pytest.mark.parametrize('solver', ['power', 'direct', 'jacobi'])
def test_warmup_weights_are_one_and_accumulator_exact(solver):
    n, W = 4, 5
    bal = GradientBalancer(n, warmup_iters=W, momentum=0.9,
                           solver=SOLVERS[solver], stat_dtype=D)
    gen = torch.Generator().manual_seed(10)
    ref_gen = torch.Generator().manual_seed(10)
    Gs = []
    for it in range(W + 4):
        assert bal.in_warmup == (it < W)
        # reference per-iteration G from the same random stream
        G_it = torch.zeros(n + 1, n + 1, dtype=D)
        for lw in (1.0, 4.0):
            logits, labels, weights = long_tail_batch(n, 67, ref_gen)
            G_it += lw * batch_gradient_matrix(logits, labels, weights)
        long_tail_batch(n, 67, ref_gen)  # the ignored branch
        Gs.append(G_it)
        if it < W:
            assert torch.equal(bal.weights, torch.ones(n + 1, dtype=D))
        rw = run_iteration(bal, gen, n)
        if it < W:
            assert torch.equal(rw, torch.ones_like(rw))
            assert bal.weight_means['labeled'].num_updates == 0
        if it + 1 <= W:  # exact mean
            torch.testing.assert_close(bal.gradient_matrix,
                                       torch.stack(Gs).mean(0), rtol=1e-10,
                                       atol=1e-12)
    ref = torch.stack(Gs[:W]).mean(0)
    for G_it in Gs[W:]:
        ref = 0.9 * ref + 0.1 * G_it
    torch.testing.assert_close(bal.gradient_matrix, ref, rtol=1e-10,
                               atol=1e-12)
    assert not bal.in_warmup and bal.num_updates == W + 4
    if solver != 'jacobi':  # jacobi's weights move only when a is trained
        assert not torch.equal(bal.weights, torch.ones(n + 1, dtype=D))
        assert bal.balance_residual(per_class=True) < 0.9


def test_solve_interval():
    n = 3
    bal = GradientBalancer(n, warmup_iters=2, solve_interval=3)
    gen = torch.Generator().manual_seed(16)
    history = []
    for _ in range(8):
        run_iteration(bal, gen, n)
        history.append(bal.weights.clone())
    # solved after updates 2, 5, 8 only
    assert not torch.equal(history[1], torch.ones(n + 1, dtype=D))
    assert torch.equal(history[1], history[2])
    assert torch.equal(history[2], history[3])
    assert not torch.equal(history[3], history[4])
    assert torch.equal(history[4], history[5])
    assert torch.equal(history[5], history[6])
    assert not torch.equal(history[6], history[7])


def test_roi_weights_normalisation():
    n = 3
    bal = GradientBalancer(n, warmup_iters=0, momentum=0.9,
                           betas=dict(labeled=0.5, unlabeled=1.0))
    bal.solver.weights.copy_(torch.tensor([4.0, 2.0, 0.5, 1.0], dtype=D))
    labels = torch.tensor([0, 1, 2, 3, 3, 3])
    lam = torch.tensor([1.0, 1.0, 1.0, 0.5, 0.5, 0.0])
    rw = bal.roi_weights(labels, 'labeled', lam)
    u = torch.tensor([2.0, 2.0**0.5, 0.5**0.5, 1.0, 1.0, 1.0], dtype=D)
    m = (u * lam.to(D)).sum() / lam.sum()
    assert rw.dtype == torch.float32
    torch.testing.assert_close(rw, (u / m).float())
    # first batch: the lambda-weighted mean of the weights is exactly 1
    assert (rw.double() * lam.double()).sum().item() / lam.sum().item() == \
        pytest.approx(1.0, abs=1e-6)
    assert bal.weight_means['labeled'].num_updates == 1
    # unlabeled: beta = 1, its own running mean
    rw_u = bal.roi_weights(labels, 'unlabeled')
    torch.testing.assert_close(
        rw_u, (torch.tensor([4.0, 2.0, 0.5, 1, 1, 1]) /
               torch.tensor([4.0, 2.0, 0.5, 1, 1, 1]).mean()))
    # zero total label weight: the running mean is not disturbed
    before = bal.weight_means['labeled'].value.clone()
    bal.roi_weights(labels, 'labeled', torch.zeros(6))
    assert torch.equal(bal.weight_means['labeled'].value, before)
    # eval mode reads but never updates the running mean
    bal.eval()
    bal.roi_weights(labels[:2], 'labeled')
    assert bal.weight_means['labeled'].num_updates == 2
    # ignore branch and unknown branch
    assert torch.equal(bal.roi_weights(labels, None), torch.ones(6))
    with pytest.raises(KeyError):
        bal.roi_weights(labels, 'strong')
    # empty batch
    assert bal.roi_weights(labels[:0], 'labeled').shape == (0, )


def test_solver_loss_connected_and_zero_in_warmup():
    n = 3
    bal = GradientBalancer(n, warmup_iters=2, solver=SOLVERS['jacobi'])
    loss = bal.solver_loss()
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(bal.solver.a.grad, torch.zeros(n + 1))
    for name in ('power', 'direct'):
        b = GradientBalancer(n, warmup_iters=0, solver=SOLVERS[name])
        assert b.solver_loss().item() == 0.0
    gen = torch.Generator().manual_seed(11)
    for _ in range(3):
        run_iteration(bal, gen, n)
    assert not bal.in_warmup
    loss = bal.solver_loss()
    assert loss.item() > 0
    loss.backward()
    assert bal.solver.a.grad.abs().sum() > 0


def test_balancer_edge_cases_nan_empty_n1():
    n = 1
    bal = GradientBalancer(n, warmup_iters=2, momentum=0.9)
    gen = torch.Generator().manual_seed(12)
    # nothing recorded at all: counted as empty, not as an update
    assert bal.step() is False
    assert int(bal.num_empty) == 1 and bal.num_updates == 0
    # empty batch recorded
    bal.record(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), None,
               'labeled')
    assert bal.step() is False and int(bal.num_empty) == 2
    for _ in range(4):
        run_iteration(bal, gen, n)
    assert bal.num_updates == 4 and not bal.in_warmup
    w_before = bal.weights.clone()
    G_before = bal.gradient_matrix.clone()
    for bad in (float('nan'), float('inf'), -float('inf')):
        logits, labels, weights = long_tail_batch(n, 40, gen)
        logits[3, 0] = bad
        if bad == -float('inf'):
            logits[4] = bad  # a whole row of -inf: softmax is NaN
        bal.record(logits, labels, weights, 'unlabeled', 4.0)
        bal.record(*long_tail_batch(n, 40, gen), branch='labeled')
        assert bal.step() is False
        assert torch.equal(bal.weights, w_before)
        assert torch.equal(bal.gradient_matrix, G_before)
    assert int(bal.num_skipped) == 3 and bal.num_updates == 4
    assert bal.summary()['num_skipped'] == 3.0
    # the pending statistics were cleared: training continues normally
    run_iteration(bal, gen, n)
    assert bal.num_updates == 5
    assert bool(torch.isfinite(bal.weights).all())
    assert bool(torch.isfinite(bal.gradient_matrix).all())
    for value in bal.summary().values():
        assert value == value  # no NaN
    with pytest.raises(ValueError):
        bal.record(torch.zeros(3, 5), torch.zeros(3, dtype=torch.long))


def test_eval_mode_records_nothing():
    bal = GradientBalancer(2, warmup_iters=1)
    bal.eval()
    bal.record(*long_tail_batch(2, 10, torch.Generator()), branch='labeled')
    assert bal.step() is False and bal.num_updates == 0


def test_reduce_fn_sums_ranks():
    """Two simulated ranks with an all-reduce sum == one process that saw
    every batch."""
    n = 5
    ranks = [GradientBalancer(n, warmup_iters=3, stat_dtype=D)
             for _ in range(2)]
    single = GradientBalancer(n, warmup_iters=3, stat_dtype=D)
    gen = torch.Generator().manual_seed(13)
    for _ in range(5):
        for bal in ranks:
            logits, labels, weights = long_tail_batch(n, 50, gen, dtype=D)
            bal.record(logits, labels, weights, 'labeled', 1.0)
            single.record(logits, labels, weights, 'labeled', 1.0)
        total = ranks[0]._get_pending() + ranks[1]._get_pending()
        for bal in ranks:
            bal.step(lambda t: t.copy_(total))
        single.step()
    for bal in ranks:
        torch.testing.assert_close(bal.gradient_matrix,
                                   single.gradient_matrix, rtol=1e-12,
                                   atol=1e-15)
        torch.testing.assert_close(bal.weights, single.weights, rtol=1e-9,
                                   atol=1e-9)
    assert torch.equal(ranks[0].weights, ranks[1].weights)
    # a reduce_fn returning a new tensor is used as well
    for bal in ranks:
        bal.record(*long_tail_batch(n, 50, gen, dtype=D), branch='labeled')
    assert ranks[0].step(lambda t: t * 0.0) is False  # zero count: empty


def _state(bal: GradientBalancer) -> dict:
    return {k: v.clone() for k, v in bal.state_dict().items()}


@pytest.mark.parametrize('solver', ['power', 'direct', 'jacobi'])
def test_state_dict_round_trip_and_exact_resume(solver):
    n = 6
    kwargs = dict(warmup_iters=4, momentum=0.9, solver=SOLVERS[solver])
    ref = GradientBalancer(n, **kwargs)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.5) \
        if solver == 'jacobi' else None
    gen = torch.Generator().manual_seed(14)
    for _ in range(7):
        run_iteration(ref, gen, n, ref_opt)
    # round trip through a real checkpoint file format
    buf = io.BytesIO()
    torch.save(ref.state_dict(), buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    keys = set(ckpt)
    assert {'grad_matrix.value', 'grad_matrix.count', 'num_skipped',
            'num_empty', 'solver.weights', 'weight_means.labeled.value',
            'weight_means.unlabeled.count'} <= keys
    assert not any('pending' in k for k in keys)
    resumed = GradientBalancer(n, **kwargs)
    resumed.load_state_dict(ckpt)
    for k, v in _state(ref).items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    assert resumed.num_updates == ref.num_updates == 7
    assert resumed.in_warmup == ref.in_warmup
    assert torch.equal(resumed.weights, ref.weights)
    res_opt = torch.optim.SGD(resumed.parameters(), lr=0.5) \
        if solver == 'jacobi' else None
    # continue both on the same batches
    gen_state = gen.get_state()
    gen_b = torch.Generator()
    gen_b.set_state(gen_state)
    for _ in range(6):
        rw_a = run_iteration(ref, gen, n, ref_opt)
        rw_b = run_iteration(resumed, gen_b, n, res_opt)
        assert torch.equal(rw_a, rw_b)
    for k, v in _state(ref).items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    assert torch.equal(ref.weights, resumed.weights)
    assert not torch.equal(ref.weights, torch.ones(n + 1, dtype=D)) or \
        solver == 'jacobi'


def test_load_state_dict_drops_pending_statistics():
    n = 2
    bal = GradientBalancer(n, warmup_iters=1)
    state = copy.deepcopy(bal.state_dict())
    bal.record(*long_tail_batch(n, 30, torch.Generator()), branch='labeled')
    bal.load_state_dict(state)
    assert bal.step() is False and int(bal.num_empty) == 1


def test_resume_equals_uninterrupted_run_across_warmup_end():
    """Resume in the middle of the warm-up, then cross its end."""
    n = 4
    kwargs = dict(warmup_iters=5, momentum=0.8)
    a = GradientBalancer(n, **kwargs)
    gen = torch.Generator().manual_seed(15)
    batches = [long_tail_batch(n, 67, gen) for _ in range(12)]

    def feed(bal, sl):
        for logits, labels, weights in batches[sl]:
            bal.roi_weights(labels, 'labeled', weights)
            bal.record(logits, labels, weights, 'labeled')
            bal.step()

    feed(a, slice(0, 12))
    b = GradientBalancer(n, **kwargs)
    feed(b, slice(0, 3))
    c = GradientBalancer(n, **kwargs)
    c.load_state_dict(copy.deepcopy(b.state_dict()))
    feed(c, slice(3, 12))
    assert torch.equal(a.weights, c.weights)
    assert torch.equal(a.gradient_matrix, c.gradient_matrix)
    assert torch.equal(a.weight_means['labeled'].value,
                       c.weight_means['labeled'].value)
