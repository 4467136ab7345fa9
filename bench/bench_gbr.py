"""Benchmark of the GbR core (``cissod_core.gbr``) on the CPU.

Usage::

    .venv/bin/python bench/bench_gbr.py [--repeats 15] [--device cuda]
        [--sizes 80 1203] [--no-solvers]

At COCO scale (C = 81) and LVIS scale (C = 1204), R = 5 x 512 RoIs, float32,
default torch thread count, it times in one run (median over repeats):

(a) our batch gradient matrix: the scatter-add statistics of one batch, as
    ``GradientBalancer.record`` computes them from the logits (and, as
    (a'), from probabilities the loss already computed);
(b) a naive per-RoI outer-product formulation of the same G (the reference
    implementation's way: ``onehot(y_r) x dl_r/dz_r`` per RoI, in chunks of
    64 RoIs); at LVIS scale one chunk allocates ~371 MB, so it is timed on
    a subset of the chunks and scaled linearly (printed);
(c) plain cross-entropy forward + backward of the same logits;
(d) one whole GbR iteration after the warm-up: ``roi_weights`` + ``record``
    + ``step`` (accumulate + solve), plus ``solver_loss`` forward/backward
    for the learnable ``jacobi``, for each solver, on a stream of fresh
    batches (so that the warm-started solvers see a moving G).

and prints b/a, a/c, d/c. (a), (a'), (c) and (d) are timed round-robin
(one call of each per repeat) so that other load on the machine affects
them alike; the minimum is printed next to each median. Then, on a
realistic G accumulated from a
synthetic long-tailed stream (Zipf class frequencies, 75 % background,
head-biased classifier, labeled + unlabeled branches), it compares the
solvers: weight range, balance residual (absolute and per class, over the
active classes, for the raw and the clamped weights), agreement, and cost
(cold solve, warm-started step).

The stdout of a run is what ``bench/results_gbr.txt`` holds.
"""
import argparse
import os
import platform
import statistics
import time
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn.functional as F

from cissod_core.gbr import (
    DirectSolver,
    GradientBalancer,
    JacobiSolver,
    PowerSolver,
    accumulate_negative_gradients,
    active_classes,
    balance_residual,
    gradient_scale,
)

R = 5 * 512
CHUNK = 64  # the reference's chunk of RoIs for the outer products
SOLVER_CLASSES = dict(power=PowerSolver, direct=DirectSolver,
                      jacobi=JacobiSolver)
SOLVERS = tuple(SOLVER_CLASSES)


def long_tail_batch(n: int, num_rois: int, gen: torch.Generator,
                    alpha: float = 1.1, bg_frac: float = 0.75,
                    unlabeled: bool = False
                    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Synthetic RoI batch of a long-tailed detector (float32 logits).

    Class frequencies ~ Zipf(alpha); 75 % background RoIs; the classifier
    is biased towards head classes (logit bias 0.5 log f_c) and confident in
    proportion to frequency; unlabeled negatives get a random label weight
    (Soft Teacher's background score).
    """
    C = n + 1
    freq = torch.arange(1, n + 1, dtype=torch.float64).pow(-alpha)
    freq /= freq.sum()
    labels = torch.full((num_rois, ), n, dtype=torch.long)
    nb = int(num_rois * bg_frac)
    labels[nb:] = torch.multinomial(freq, num_rois - nb, True, generator=gen)
    rel = (freq / freq.max()).float()
    bias = torch.zeros(C)
    bias[:n] = 0.5 * rel.log()
    bias[n] = 2.0
    margin = torch.zeros(C)
    margin[:n] = 1.0 + 3.0 * rel.pow(0.3)
    margin[n] = 1.5
    logits = torch.randn(num_rois, C, generator=gen) + bias
    logits[torch.arange(num_rois), labels] += margin[labels]
    weights = torch.ones(num_rois)
    if unlabeled:
        bg = labels == n
        weights[bg] = torch.rand(int(bg.sum()), generator=gen)
    return logits, labels, weights


def naive_outer_product_G(logits: torch.Tensor, labels: torch.Tensor,
                          weights: torch.Tensor, gamma: float,
                          num_chunks: int) -> torch.Tensor:
    """O(R C^2): per-RoI ``onehot(y) x dl/dz`` outer products, 64 at a
    time, over the first ``num_chunks`` chunks."""
    C = logits.shape[1]
    G = logits.new_zeros(C, C)
    for c in range(num_chunks):
        sl = slice(c * CHUNK, (c + 1) * CHUNK)
        z, y, lam = logits[sl], labels[sl], weights[sl]
        p = torch.softmax(z, dim=1)
        g = gradient_scale(p.gather(1, y[:, None])[:, 0], gamma) * lam
        onehot = F.one_hot(y, C).to(p.dtype)
        grad = (p - onehot) * g[:, None]
        G += (onehot[:, :, None] * grad[:, None, :]).sum(0)
    return G


def make_trained_balancer(n: int, solver: str, iters: int, seed: int,
                          batches: List) -> GradientBalancer:
    """A balancer just past its warm-up, G-hat from ``iters`` iterations
    (on the device of ``batches``)."""
    bal = GradientBalancer(n, warmup_iters=iters,
                           solver=SOLVER_CLASSES[solver]).to(
                               batches[0][0].device)
    for i in range(iters):
        lab, unl = batches[(2 * i) % len(batches)], batches[
            (2 * i + 1) % len(batches)]
        bal.record(*lab, branch='labeled', loss_weight=1.0)
        bal.record(*unl, branch='unlabeled', loss_weight=4.0)
        bal.step()
    assert not bal.in_warmup
    return bal


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued kernels (a no-op on the CPU)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def interleaved_ms(fns: Dict[str, Callable[[], object]], repeats: int,
                   warmup: int = 2,
                   device: torch.device = torch.device('cpu')
                   ) -> Dict[str, Tuple[float, float]]:
    """(median, min) ms of every function, timed round-robin so that a
    busy machine affects all of them alike; on a GPU each call is timed
    from an idle device to the end of its kernels."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: Dict[str, List[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            synchronize(device)
            t = time.perf_counter()
            fn()
            synchronize(device)
            times[k].append(1e3 * (time.perf_counter() - t))
    return {k: (statistics.median(v), min(v)) for k, v in times.items()}


def timing_section(n: int, repeats: int, gamma: float,
                   device: torch.device = torch.device('cpu')
                   ) -> Dict[str, float]:
    C = n + 1
    gen = torch.Generator().manual_seed(0)
    batches = []
    for i in range(16):
        batches.append(tuple(t.to(device) for t in long_tail_batch(
            n, R, gen, unlabeled=bool(i % 2))))
    logits, labels, weights = batches[0]
    fns: Dict[str, Callable[[], object]] = {}

    # (a) ours: the statistics record() accumulates
    pending = torch.zeros(C, C, device=device)
    fns['a'] = lambda: accumulate_negative_gradients(
        pending, logits, labels, weights, gamma, 1.0 / R)
    # (a') the same when the loss hands over its softmax probabilities
    probs = torch.softmax(logits, dim=1)
    fns["a'"] = lambda: accumulate_negative_gradients(
        pending, logits, labels, weights, gamma, 1.0 / R, probs=probs)

    # (c) plain cross-entropy forward + backward
    z = logits.clone().requires_grad_(True)

    def ce():
        z.grad = None
        F.cross_entropy(z, labels).backward()

    fns['c'] = ce

    # (d) whole GbR iteration per solver (after warm-up), on a stream of
    # batches so that G moves as in training
    balancers = {}

    def make_iteration(bal: GradientBalancer) -> Callable[[], None]:
        state = {'i': 0}

        def gbr_iteration():
            i = state['i']
            state['i'] += 1
            lg, lb, lw = batches[(2 * i) % len(batches)]
            bal.roi_weights(lb, 'labeled', lw)
            bal.record(lg, lb, lw, 'labeled', 1.0)
            if bal.solver.learnable:
                bal.solver_loss().backward()
            bal.step()

        return gbr_iteration

    for solver in SOLVERS:
        balancers[solver] = make_trained_balancer(n, solver, 50, 0, batches)
        fns[f'd_{solver}'] = make_iteration(balancers[solver])
    slow = {k: fns.pop(k) for k in list(fns)
            if k == 'd_direct' and C > 500}  # O(C^3): fewer repeats
    t = interleaved_ms(fns, repeats, device=device)
    if slow:
        t.update(interleaved_ms(slow, max(3, repeats // 3), device=device))
    its = []
    for _ in range(10):
        fns['d_power']()
        its.append(int(balancers['power'].solver.last_iters))
    iters_used = {'power': statistics.median(its)}
    t_a, t_a2, t_c = t['a'][0], t["a'"][0], t['c'][0]
    t_d = {s: t[f'd_{s}'][0] for s in SOLVERS}

    # (b) naive outer products (subset of chunks at large C)
    total_chunks = R // CHUNK
    bytes_per_chunk = CHUNK * C * C * 4
    sub_chunks = total_chunks if bytes_per_chunk < 64e6 else 2
    rep_b = repeats if sub_chunks == total_chunks else max(3, repeats // 3)
    t_b_sub = interleaved_ms(
        {'b': lambda: naive_outer_product_G(logits, labels, weights, gamma,
                                            sub_chunks)},
        rep_b, warmup=1, device=device)['b'][0]
    t_b = t_b_sub * total_chunks / sub_chunks
    # sanity: both formulations give the same G on the chunks timed
    G_ref = naive_outer_product_G(logits, labels, weights, gamma,
                                  sub_chunks)
    G_ours = torch.zeros(C, C, device=device)
    k = sub_chunks * CHUNK
    accumulate_negative_gradients(G_ours, logits[:k], labels[:k],
                                  weights[:k], gamma)
    G_ours.diagonal().copy_(-G_ours.sum(1))
    max_err = (G_ours - G_ref).abs().max().item() / G_ref.abs().max().item()

    print(f'\n== C = {C} (n = {n}), R = {R}, float32, gamma = {gamma}, '
          f'device {device.type}')
    print(f'(a) batch G, scatter-add (ours)        {t_a:10.3f} ms   '
          f'(min {t["a"][1]:.3f})')
    min_a2 = t["a'"][1]
    print(f"(a') the same, given the loss's probs  {t_a2:10.3f} ms   "
          f'(min {min_a2:.3f})')
    if sub_chunks == total_chunks:
        print(f'(b) batch G, per-RoI outer products    {t_b:10.3f} ms '
              f'({total_chunks} chunks of {CHUNK})')
    else:
        print(f'(b) batch G, per-RoI outer products    {t_b:10.3f} ms '
              f'(timed {t_b_sub:.1f} ms on {sub_chunks} of {total_chunks} '
              f'chunks of {CHUNK} RoIs, {bytes_per_chunk / 1e6:.0f} MB each,'
              f' scaled linearly)')
    print(f'    (a) vs (b) on the same RoIs: max rel. difference '
          f'{max_err:.1e}')
    print(f'(c) cross-entropy forward + backward   {t_c:10.3f} ms   '
          f'(min {t["c"][1]:.3f})')
    for solver in SOLVERS:
        extra = ''
        if solver == 'power':
            extra = (f' (median {iters_used[solver]:.0f} power iterations '
                     'per step)')
        if solver == 'jacobi':
            extra = ' (incl. solver_loss fwd + bwd)'
        print(f'(d) GbR iteration, {solver:<7s}            '
              f'{t_d[solver]:10.3f} ms   (min {t["d_" + solver][1]:.3f})'
              f'{extra}')
    print(f'b/a = {t_b / t_a:10.1f}   (target >= 1000)')
    print(f'a/c = {t_a / t_c:10.3f}   (target <= 0.5)')
    print(f"a'/c = {t_a2 / t_c:9.3f}   (probabilities shared with the loss)")
    for solver in SOLVERS:
        mark = '  (target <= 1, default solver)' if solver == 'power' else ''
        print(f'd/c = {t_d[solver] / t_c:10.3f}   [{solver}]{mark}')
    return dict(a=t_a, b=t_b, c=t_c, **{f'd_{k}': v for k, v in t_d.items()})


def solver_section(n: int, iters: int) -> None:
    """Compare the solvers on a realistic accumulated G."""
    C = n + 1
    gen = torch.Generator().manual_seed(1)
    bal = GradientBalancer(n, warmup_iters=iters)
    for _ in range(iters):
        bal.record(*long_tail_batch(n, R, gen), branch='labeled')
        bal.record(*long_tail_batch(n, R, gen, unlabeled=True),
                   branch='unlabeled', loss_weight=4.0)
        bal.step()
    G = bal.gradient_matrix.clone()
    P = -G.diagonal()
    act = active_classes(P.double())
    print(f'\n-- solvers on a realistic G: C = {C}, {iters} iterations of a '
          f'long-tailed stream, {int(act.sum())} / {C} classes active')
    print(f'   P range over active classes: {P[act].min().item():.2e} .. '
          f'{P[act].max().item():.2e}')
    header = (f'   {"solver":<22s} {"cold ms":>8s} {"raw min":>9s} '
              f'{"raw max":>9s} {"raw bg":>8s} {"res raw":>9s} '
              f'{"res/cls raw":>11s} {"w min":>6s} {"w max":>6s} '
              f'{"w bg":>6s} {"#lo":>5s} {"#hi":>5s} {"res w":>8s}')
    print(header)
    results = {}

    def report(name: str, ms: float, raw: torch.Tensor, w: torch.Tensor):
        lo, hi = 1.0 / 3.0, 5.0
        print(f'   {name:<22s} {ms:8.1f} {raw.min().item():9.3g} '
              f'{raw.max().item():9.3g} {raw[-1].item():8.3g} '
              f'{balance_residual(G, raw).item():9.2e} '
              f'{balance_residual(G, raw, per_class=True).item():11.2e} '
              f'{w.min().item():6.3f} {w.max().item():6.3f} '
              f'{w[-1].item():6.3f} {int((w <= lo + 1e-9).sum()):5d} '
              f'{int((w >= hi - 1e-9).sum()):5d} '
              f'{balance_residual(G, w).item():8.2e}')
        results[name] = w

    for name in ('power', 'direct'):
        s = SOLVER_CLASSES[name](num_classes=n)
        t = time.perf_counter()
        w = s.solve(G).clone()
        ms = 1e3 * (time.perf_counter() - t)
        extra = f' ({int(s.last_iters)} it)' if name == 'power' else ''
        report(name + extra, ms, s.raw, w)
    # the paper's module: to convergence with a stable plain-SGD rate, and
    # what the detector's optimiser (SGD lr 0.01, momentum 0.9) reaches in
    # 2000 iterations from w = 1
    s = JacobiSolver(num_classes=n)
    steps = 20000
    t = time.perf_counter()
    w = s.fit(G, steps, lr=1.0 / 6.0).clone()
    ms = 1e3 * (time.perf_counter() - t)
    report(f'jacobi fit {steps}', ms, s.raw_weights(), w)
    s2 = JacobiSolver(num_classes=n)
    opt = torch.optim.SGD(s2.parameters(), lr=0.01, momentum=0.9)
    t = time.perf_counter()
    for _ in range(2000):
        s2.solve(G)
        opt.zero_grad()
        s2.loss().backward()
        opt.step()
    w2 = s2.solve(G).clone()
    ms = 1e3 * (time.perf_counter() - t)
    report('jacobi det-SGD 2000', ms, s2.raw_weights(), w2)
    wp = results[next(k for k in results if k.startswith('power'))]
    for k, v in results.items():
        if not k.startswith('power'):
            print(f'   max |w_{k.split()[0]} - w_power| '
                  f'({k}): {(v - wp).abs().max().item():.2e}')
    print('   (raw = unclamped solution, w = clamped to [1/3, 5], bg <= 1; '
          'res = max_i |w_i P_i - inflow_i| / max P, res/cls = max_i of it '
          'relative to max(w_i P_i, inflow_i); #lo / #hi = weights at the '
          'bounds; cold ms = one solve from w = 1)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=15)
    parser.add_argument('--gamma', type=float, default=0.0)
    parser.add_argument('--solver-iters', type=int, default=200,
                        help='iterations accumulated for the solver section')
    parser.add_argument('--device', default='cpu',
                        help="where the timed ops run: 'cpu' or 'cuda'")
    parser.add_argument('--sizes', type=int, nargs='+', default=[80, 1203],
                        help='numbers of foreground classes n (C = n + 1)')
    parser.add_argument('--no-solvers', action='store_true',
                        help='skip the solver comparison (CPU only)')
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    load = os.getloadavg() if hasattr(os, 'getloadavg') else (0, 0, 0)
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    print(f'GbR core benchmark: torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads (default), {os.cpu_count()} '
          f'CPUs ({cpu}), load average {load[0]:.2f}')
    if load[0] > 0.5:
        print('NOTE: other processes were running: with the default thread '
              'pool, timings of multi-threaded ops are then inflated and '
              'noisy (compare runs at a low load average).')
    if device.type == 'cuda':
        print(f'device: {torch.cuda.get_device_name(device)}')
    for n in args.sizes:
        timing_section(n, args.repeats, args.gamma, device)
    if not args.no_solvers:
        for n in args.sizes:
            solver_section(n, args.solver_iters)


if __name__ == '__main__':
    main()
