"""Tests of the pure-torch GbT core (``cissod_core.gbt``).

References: numpy's exact mean, a naive per-detection python loop of the
documented batch semantics, the per-detection sequential EMA, and
thresholds computed by hand (the numbers are written out).
"""
import copy
import io
from typing import Dict, List, Tuple

import numpy as np
import pytest
import torch
from torch import Tensor

from cissod_core.gbt import (
    ClassScoreMeans,
    ClassThresholds,
    class_score_sums,
    gbt_thresholds,
)

D = torch.float64
TAU, TAU_MIN = 0.9, 0.5

# --------------------------------------------------------------------------
# helpers


def random_batches(num_batches: int, num_classes: int, probs: List[float],
                   max_batch: int, seed: int) -> List[Tuple[Tensor, Tensor]]:
    """Random (labels, scores) batches of random sizes (possibly empty)."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(num_batches):
        size = int(rng.integers(0, max_batch + 1))
        labels = rng.choice(num_classes, size=size, p=probs)
        scores = rng.uniform(0.05, 1.0, size=size)
        batches.append((torch.from_numpy(labels), torch.from_numpy(scores)))
    return batches


class NaiveMeans:
    """Per-class, per-detection python loop of the batch semantics: the k
    detections of a class in a batch are k sequential updates, each equal
    to the batch mean of that class."""

    def __init__(self, n: int, exact_count: int, momentum: float) -> None:
        self.mean = [0.0] * n
        self.count = [0] * n
        self.exact_count, self.momentum = exact_count, momentum

    def update(self, labels: Tensor, scores: Tensor) -> None:
        per_class: Dict[int, List[float]] = {}
        for y, s in zip(labels.tolist(), scores.tolist()):
            per_class.setdefault(int(y), []).append(float(s))
        for c, ss in per_class.items():
            b = sum(ss) / len(ss)
            for _ in ss:
                self.count[c] += 1
                if self.count[c] <= self.exact_count:
                    self.mean[c] += (b - self.mean[c]) / self.count[c]
                else:
                    a = self.momentum
                    self.mean[c] = a * self.mean[c] + (1.0 - a) * b


def close(a: Tensor, b, rtol: float = 1e-12, atol: float = 1e-14) -> None:
    torch.testing.assert_close(a,
                               torch.as_tensor(b, dtype=a.dtype),
                               rtol=rtol,
                               atol=atol)


# --------------------------------------------------------------------------
# running mean


def test_running_mean_exact_then_batch_ema():
    """Exact mean up to 1000 detections per class, then the batch EMA."""
    n = 4
    # class 0 passes 1000 early, class 3 never does, class 2 never appears
    probs = [0.6, 0.3, 0.0, 0.1]
    batches = random_batches(60, n, probs, max_batch=90, seed=0)
    means = ClassScoreMeans(n)  # exact_count=1000, momentum=0.999
    naive = NaiveMeans(n, 1000, 0.999)
    history: List[List[float]] = [[] for _ in range(n)]
    checked_exact = checked_ema = 0
    for labels, scores in batches:
        before = means.mean.clone()
        means.update(labels, scores)
        naive.update(labels, scores)
        for y, s in zip(labels.tolist(), scores.tolist()):
            history[y].append(s)
        for c in range(n):
            assert int(means.count[c]) == len(history[c])
            if not history[c]:
                assert means.mean[c].item() == 0.0
            elif len(history[c]) <= 1000:
                close(means.mean[c], np.mean(history[c]))
                checked_exact += 1
            else:
                checked_ema += 1
            close(means.mean[c], naive.mean[c])
            if not (labels == c).any():
                assert means.mean[c].item() == before[c].item()
    assert checked_exact > 50 and checked_ema > 20
    assert means.count[0] > 1000 and 0 < means.count[3] < 1000
    assert means.seen.tolist() == [True, True, False, True]


def test_batch_ending_at_and_straddling_exact_count():
    """A batch landing exactly on 1000 gives numpy's mean; one straddling
    1000 completes the exact mean with its batch mean, then EMA."""
    g = np.random.default_rng(1)
    first = g.uniform(0, 1, 990)
    means = ClassScoreMeans(2)
    means.update(torch.zeros(990, dtype=torch.long), torch.from_numpy(first))
    close(means.mean[0], first.mean())
    # straddling: 25 detections, 10 exact + 15 EMA
    batch = g.uniform(0, 1, 25)
    b = batch.mean()
    m1000 = (first.sum() + 10 * b) / 1000
    expected = 0.999**15 * m1000 + (1 - 0.999**15) * b
    straddle = copy.deepcopy(means)
    straddle.update(torch.zeros(25, dtype=torch.long), torch.from_numpy(batch))
    close(straddle.mean[0], expected)
    assert int(straddle.count[0]) == 1015
    naive = NaiveMeans(2, 1000, 0.999)
    naive.update(torch.zeros(990), torch.from_numpy(first))
    naive.update(torch.zeros(25), torch.from_numpy(batch))
    close(straddle.mean[0], naive.mean[0])
    # ending exactly at 1000: still the exact mean of every score
    means.update(torch.zeros(10, dtype=torch.long),
                 torch.from_numpy(batch[:10]))
    close(means.mean[0], np.concatenate([first, batch[:10]]).mean())
    assert int(means.count[0]) == 1000
    assert means.mean[1].item() == 0.0 and int(means.count[1]) == 0


def test_one_detection_per_class_is_sequential_ema():
    """At most one detection of a class per batch: the per-detection
    exact mean, then ``m <- a m + (1 - a) s``."""
    n, exact, a = 3, 20, 0.9
    g = np.random.default_rng(2)
    means = ClassScoreMeans(n, exact_count=exact, momentum=a)
    ref_mean, ref_count = [0.0] * n, [0] * n
    seqs: List[List[float]] = [[] for _ in range(n)]
    for step in range(100):
        present = g.uniform(size=n) < 0.8
        present[step % n] = True
        scores = g.uniform(0, 1, n)
        labels = np.nonzero(present)[0]
        means.update(torch.from_numpy(labels),
                     torch.from_numpy(scores[labels]))
        for c in labels.tolist():
            s = float(scores[c])
            seqs[c].append(s)
            ref_count[c] += 1
            if ref_count[c] <= exact:
                ref_mean[c] = float(np.mean(seqs[c]))
            else:
                ref_mean[c] = a * ref_mean[c] + (1 - a) * s
        close(means.mean, ref_mean)
        assert means.count.tolist() == ref_count
    assert min(ref_count) > exact + 20


def test_update_equals_update_from_sums_and_absent_unchanged():
    n = 5
    batches = random_batches(30, n, [0.5, 0.2, 0.2, 0.1, 0.0], 40, seed=3)
    a = ClassScoreMeans(n, exact_count=50, momentum=0.95)
    b = ClassScoreMeans(n, exact_count=50, momentum=0.95)
    for labels, scores in batches:
        before = a.mean.clone()
        a.update(labels, scores)
        counts = torch.bincount(labels, minlength=n)
        sums = torch.bincount(labels, weights=scores, minlength=n)
        # as after an all_reduce of a float tensor: float counts
        b.update_from_sums(counts.double(), sums)
        assert torch.equal(a.count, b.count)
        close(a.mean, b.mean, rtol=1e-14, atol=0.0)
        absent = counts == 0
        assert torch.equal(a.mean[absent], before[absent])
    assert a.count[4] == 0 and a.mean[4] == 0


def test_class_score_sums_and_edge_cases():
    labels = torch.tensor([0, 2, 2, 3, -1, 7])  # 3, -1, 7 out of range
    scores = torch.tensor([0.5, 0.25, 0.75, 1.0, 1.0, 1.0],
                          dtype=torch.float32)
    counts, sums = class_score_sums(labels, scores, 3)
    assert counts.dtype == torch.long and sums.dtype == D
    assert counts.tolist() == [1, 0, 2]
    assert sums.tolist() == [0.5, 0.0, 1.0]
    means = ClassScoreMeans(3)
    means.update(labels, scores)
    assert means.mean.tolist() == [0.5, 0.0, 0.5]
    means.update(torch.zeros(0, dtype=torch.long), torch.zeros(0))
    assert means.mean.tolist() == [0.5, 0.0, 0.5]
    assert means.count.tolist() == [1, 0, 2]
    with pytest.raises(ValueError, match='shape'):
        means.update_from_sums(torch.ones(4), torch.ones(4))
    with pytest.raises(ValueError, match='same number'):
        class_score_sums(torch.zeros(2, dtype=torch.long), torch.zeros(3), 3)
    with pytest.raises(ValueError, match='momentum'):
        ClassScoreMeans(3, momentum=1.0)
    # exact_count 0 acts as 1: the first detection sets the mean
    ema = ClassScoreMeans(1, exact_count=0, momentum=0.5)
    zero = torch.zeros(1, dtype=torch.long)
    ema.update(zero, torch.tensor([0.8], dtype=D))
    ema.update(zero, torch.tensor([0.4], dtype=D))
    close(ema.mean, [0.6])


# --------------------------------------------------------------------------
# thresholds
#
# m = [0.72, 0.66, 0.48, 0.54], all seen: mbar = 2.4 / 4 = 0.6
#   score term tau * m / mbar = 1.5 * m = [1.08, 0.99, 0.72, 0.81]
# w = [0.5, 1.5, 1.2, 2.0]: weight term tau / w = [1.8, 0.6, 0.75, 0.45]
#   min                     = [1.08, 0.6, 0.72, 0.45]
#   clip to [0.5, 0.9]      = [0.9,  0.6, 0.72, 0.5 ]

M = [0.72, 0.66, 0.48, 0.54]
W = [0.5, 1.5, 1.2, 2.0]
ALL_SEEN = [True] * 4


def thr(m=M, seen=ALL_SEEN, w=W, **kwargs) -> Tensor:
    return gbt_thresholds(torch.tensor(m, dtype=D), torch.tensor(seen),
                          None if w is None else torch.tensor(w, dtype=D),
                          **kwargs)


def test_thresholds_hand_computed():
    out = thr()
    assert out.dtype == D and out.shape == (4, )
    close(out, [0.9, 0.6, 0.72, 0.5])
    # lower clamp moved: class 3 keeps its weight term 0.45
    close(thr(tau_min=0.3), [0.9, 0.6, 0.72, 0.45])
    # tau = 0.6: score term 1.0 * m = M, weight term 0.6 / w
    #   = [1.2, 0.4, 0.5, 0.3]; min = [0.72, 0.4, 0.48, 0.3];
    #   clip [0.35, 0.6] = [0.6, 0.4, 0.48, 0.35]
    close(thr(tau=0.6, tau_min=0.35), [0.6, 0.4, 0.48, 0.35])


def test_thresholds_switches():
    # score term only: clip([1.08, 0.99, 0.72, 0.81]) = [0.9, 0.9, 0.72, 0.81]
    close(thr(use_weight_term=False), [0.9, 0.9, 0.72, 0.81])
    close(thr(w=None), [0.9, 0.9, 0.72, 0.81])
    # weight term only: clip([1.8, 0.6, 0.75, 0.45]) = [0.9, 0.6, 0.75, 0.5]
    close(thr(use_score_term=False), [0.9, 0.6, 0.75, 0.5])
    # both off: tau everywhere
    close(thr(use_score_term=False, use_weight_term=False), [0.9] * 4)
    close(thr(use_score_term=False, w=None), [0.9] * 4)


def test_thresholds_unseen_and_none_seen():
    """``unseen_classes='tau'`` (the old default): mbar over the seen
    classes, an unseen class has ratio 1 (score term tau)."""
    # class 2 unseen (its mean 0.3 is ignored): mbar = 1.92 / 3 = 0.64,
    #   score term = 0.9 * m / 0.64 = [1.0125, 0.928125, 0.9, 0.759375]
    #   min with [1.8, 0.6, 0.75, 0.45] = [1.0125, 0.6, 0.75, 0.45]
    m = [0.72, 0.66, 0.3, 0.54]
    seen = [True, True, False, True]
    close(thr(m, seen, unseen_classes='tau'), [0.9, 0.6, 0.75, 0.5])
    close(thr(m, seen, w=None, unseen_classes='tau'),
          [0.9, 0.9, 0.9, 0.759375])
    # no class seen: score term tau everywhere
    close(thr([0.0] * 4, [False] * 4, unseen_classes='tau'),
          [0.9, 0.6, 0.75, 0.5])
    close(thr([0.0] * 4, [False] * 4, w=None, unseen_classes='tau'),
          [0.9] * 4)
    # seen but every mean 0: score term tau (no division by zero)
    close(thr([0.0] * 4, ALL_SEEN, w=None, unseen_classes='tau'), [0.9] * 4)


def test_thresholds_unseen_floor_reference():
    """``unseen_classes='floor'`` (the default, the reference): an unseen
    class has m_c = 0, mbar is the mean over ALL n classes, so the unseen
    class gets the floor tau_min and every seen class a larger ratio."""
    # class 2 unseen (its stored mean 0.3 is ignored, it counts as 0):
    #   mbar = (0.72 + 0.66 + 0 + 0.54) / 4 = 1.92 / 4 = 0.48
    #   ratio = m / mbar = [1.5, 1.375, 0, 1.125]
    #   score term 0.9 * ratio = [1.35, 1.2375, 0, 1.0125]
    #   min with weight term [1.8, 0.6, 0.75, 0.45] = [1.35, 0.6, 0, 0.45]
    #   clip [0.5, 0.9] = [0.9, 0.6, 0.5, 0.5]
    m = [0.72, 0.66, 0.3, 0.54]
    seen = [True, True, False, True]
    close(thr(m, seen), [0.9, 0.6, 0.5, 0.5])
    close(thr(m, seen, unseen_classes='floor'), [0.9, 0.6, 0.5, 0.5])
    # score term alone: clip([1.35, 1.2375, 0, 1.0125]) = [0.9, 0.9, 0.5, 0.9]
    close(thr(m, seen, w=None), [0.9, 0.9, 0.5, 0.9])
    # a low seen class next to an unseen one, score term alone:
    #   m = [0.8, 0.6, -, 0.2]
    #   'floor': mbar = 1.6 / 4 = 0.4, ratio = [2, 1.5, 0, 0.5],
    #     0.9 * ratio = [1.8, 1.35, 0, 0.45] -> clip = [0.9, 0.9, 0.5, 0.5]
    #   'tau': mbar = 1.6 / 3, ratio = [1.5, 1.125, 1, 0.375],
    #     0.9 * ratio = [1.35, 1.0125, 0.9, 0.3375] -> [0.9, 0.9, 0.9, 0.5]
    m2 = [0.8, 0.6, 0.0, 0.2]
    close(thr(m2, seen, w=None), [0.9, 0.9, 0.5, 0.5])
    close(thr(m2, seen, w=None, unseen_classes='tau'), [0.9, 0.9, 0.9, 0.5])
    # every class seen: both modes are the same (mbar over all 4 = 0.6)
    close(thr(unseen_classes='floor'), [0.9, 0.6, 0.72, 0.5])
    close(thr(unseen_classes='tau'), [0.9, 0.6, 0.72, 0.5])
    # no class seen: mbar = 0, score term tau (weight term still acts)
    close(thr([0.0] * 4, [False] * 4), [0.9, 0.6, 0.75, 0.5])
    close(thr([0.0] * 4, [False] * 4, w=None), [0.9] * 4)
    # seen but every mean 0: score term tau (no division by zero)
    close(thr([0.0] * 4, ALL_SEEN, w=None), [0.9] * 4)
    # a single seen class in 'floor' mode: mbar = 0.4 / 4 = 0.1, its ratio
    #   is 4 (-> tau), the three unseen ones get the floor
    close(thr([0.0, 0.4, 0.0, 0.0], [False, True, False, False], w=None),
          [0.5, 0.9, 0.5, 0.5])


def test_thresholds_adaptive_floor():
    """``floor_min``: floor_c = max(floor_min, tau_min * min(1, m_c /
    mbar)) instead of tau_min."""
    # m = [0.8, 0.6, 0.4, 0.2], all seen: mbar = 2.0 / 4 = 0.5,
    #   ratio = [1.6, 1.2, 0.8, 0.4]
    #   adaptive floor (floor_min 0.3) = max(0.3, 0.5 * [1, 1, 0.8, 0.4])
    #                                  = [0.5, 0.5, 0.4, 0.3]
    #   score term 0.9 * ratio = [1.44, 1.08, 0.72, 0.36]
    m = [0.8, 0.6, 0.4, 0.2]
    # score term alone: max(., floor) = [1.44, 1.08, 0.72, 0.36],
    #   clip to tau = [0.9, 0.9, 0.72, 0.36]; the fixed floor 0.5 would give
    #   [0.9, 0.9, 0.72, 0.5]
    close(thr(m, w=None, floor_min=0.3), [0.9, 0.9, 0.72, 0.36])
    close(thr(m, w=None), [0.9, 0.9, 0.72, 0.5])
    # floor_min 0.4 binds for class 3: max(0.4, 0.2) = 0.4 > 0.36
    close(thr(m, w=None, floor_min=0.4), [0.9, 0.9, 0.72, 0.4])
    # floor_min == tau_min: the fixed floor again
    close(thr(m, w=None, floor_min=0.5), [0.9, 0.9, 0.72, 0.5])
    # weight term alone, w = [0.5, 1.5, 3.0, 2.0]:
    #   tau / w = [1.8, 0.6, 0.3, 0.45]
    #   max with floor [0.5, 0.5, 0.4, 0.3] = [1.8, 0.6, 0.4, 0.45]
    #   clip to tau = [0.9, 0.6, 0.4, 0.45]  (class 2: tau_min * ratio binds)
    #   fixed floor: [0.9, 0.6, 0.5, 0.5]
    w = [0.5, 1.5, 3.0, 2.0]
    close(thr(m, w=w, use_score_term=False, floor_min=0.3),
          [0.9, 0.6, 0.4, 0.45])
    close(thr(m, w=w, use_score_term=False), [0.9, 0.6, 0.5, 0.5])
    # both terms: min(score, weight) = [1.44, 0.6, 0.3, 0.36]
    #   max with floor [0.5, 0.5, 0.4, 0.3] = [1.44, 0.6, 0.4, 0.36]
    close(thr(m, w=w, floor_min=0.3), [0.9, 0.6, 0.4, 0.36])
    # large weights, tau / w = 0.1 for every class, M (ratio [1.2, 1.1,
    #   0.8, 0.9]), floor_min 0: theta = floor = 0.5 * min(1, ratio)
    #   = [0.5, 0.5, 0.4, 0.45]: the classes scored at least at the average
    #   keep tau_min
    close(thr(M, w=[9.0] * 4, floor_min=0.0), [0.5, 0.5, 0.4, 0.45])
    # with an unseen class, m = [0.8, 0.6, -, 0.2], score term alone:
    #   'floor': ratio = [2, 1.5, 0, 0.5], 0.9 * ratio = [1.8, 1.35, 0, 0.45]
    #     floor = max(0.3, 0.5 * [1, 1, 0, 0.5]) = [0.5, 0.5, 0.3, 0.3]
    #     -> [0.9, 0.9, 0.3, 0.45]: the unseen class gets floor_min
    #   'tau': ratio = [1.5, 1.125, 1, 0.375],
    #     0.9 * ratio = [1.35, 1.0125, 0.9, 0.3375]
    #     floor = max(0.3, 0.5 * [1, 1, 1, 0.375]) = [0.5, 0.5, 0.5, 0.3]
    #     -> [0.9, 0.9, 0.9, 0.3375]
    seen = [True, True, False, True]
    m2 = [0.8, 0.6, 0.0, 0.2]
    close(thr(m2, seen, w=None, floor_min=0.3), [0.9, 0.9, 0.3, 0.45])
    close(thr(m2, seen, w=None, floor_min=0.3, unseen_classes='tau'),
          [0.9, 0.9, 0.9, 0.3375])
    # nothing seen: ratio 1, floor tau_min
    close(thr([0.0] * 4, [False] * 4, w=None, floor_min=0.3), [0.9] * 4)
    close(thr([0.0] * 4, [False] * 4, w=w, use_score_term=False,
              floor_min=0.3), [0.9, 0.6, 0.5, 0.5])


def test_thresholds_new_options_validation():
    with pytest.raises(ValueError, match='unseen_classes'):
        thr(unseen_classes='zero')
    with pytest.raises(ValueError, match='unseen_classes'):
        thr(unseen_classes=None)
    with pytest.raises(ValueError, match='floor_min'):
        thr(floor_min=0.6)  # > tau_min = 0.5
    with pytest.raises(ValueError, match='floor_min'):
        thr(floor_min=-0.1)
    with pytest.raises(ValueError, match='floor_min'):
        thr(tau=0.6, tau_min=0.35, floor_min=0.4)
    # the bounds themselves are allowed
    # M, W, floor_min 0: floor = 0.5 * min(1, [1.2, 1.1, 0.8, 0.9])
    #   = [0.5, 0.5, 0.4, 0.45]; max with [1.08, 0.6, 0.72, 0.45]
    close(thr(floor_min=0.0), [0.9, 0.6, 0.72, 0.45])
    close(thr(floor_min=TAU_MIN), [0.9, 0.6, 0.72, 0.5])
    with pytest.raises(ValueError, match='unseen_classes'):
        ClassThresholds(4, unseen_classes='ignore')
    # a ClassThresholds with floor_min > tau_min is refused when built
    with pytest.raises(ValueError, match='floor_min'):
        ClassThresholds(4, floor_min=0.6)


def test_class_thresholds_rejects_floor_min_above_tau_min_when_built():
    """A misconfigured floor should fail when the module is built, not at
    the first thresholds() call (after the SSOD warm-up in training)."""
    with pytest.raises(ValueError, match='floor_min'):
        ClassThresholds(4, tau_min=0.5, floor_min=0.6)


def naive_gbt_thresholds(m: List[float], seen: List[bool], w, tau: float,
                         tau_min: float, use_score_term: bool,
                         use_weight_term: bool, unseen_classes: str,
                         floor_min) -> List[float]:
    """Per-class python loop of the documented GbT formula."""
    n = len(m)
    if unseen_classes == 'floor':
        total = 0.0
        for c in range(n):
            total += m[c] if seen[c] else 0.0
        mbar = total / n
    else:
        seen_means = [m[c] for c in range(n) if seen[c]]
        mbar = sum(seen_means) / len(seen_means) if seen_means else 0.0
    out = []
    for c in range(n):
        if mbar <= 0:
            ratio = 1.0
        elif seen[c]:
            ratio = m[c] / mbar
        else:
            ratio = 0.0 if unseen_classes == 'floor' else 1.0
        theta = tau
        if use_score_term:
            theta = min(theta, tau * ratio)
        if use_weight_term and w is not None:
            theta = min(theta, tau / w[c])
        if floor_min is None:
            floor = tau_min
        else:
            floor = max(floor_min, tau_min * min(1.0, ratio))
        out.append(min(max(theta, floor), tau))
    return out


@pytest.mark.parametrize('unseen_classes', ['floor', 'tau'])
@pytest.mark.parametrize('adaptive', [False, True])
@pytest.mark.parametrize('weights', [False, True])
def test_thresholds_match_naive_loop(unseen_classes, adaptive, weights):
    rng = np.random.default_rng(
        [('floor', 'tau').index(unseen_classes),
         int(adaptive), int(weights)])
    checked = 0
    for trial in range(200):
        n = int(rng.integers(1, 13))
        m = rng.uniform(0.0, 1.0, n)
        if trial % 10 == 0:
            seen = np.zeros(n, dtype=bool)  # nothing seen yet
        elif trial % 10 == 1:
            seen = np.ones(n, dtype=bool)
        else:
            seen = rng.uniform(size=n) < 0.7
        m = np.where(seen, m, rng.uniform(0.0, 1.0, n) * (trial % 2))
        tau = float(rng.uniform(0.3, 1.0))
        tau_min = float(rng.uniform(0.0, tau))
        floor_min = float(rng.uniform(0.0, tau_min)) if adaptive else None
        w = rng.uniform(1 / 3, 5.0, n) if weights else None
        use_score = bool(trial % 4 != 2)
        use_weight = bool(trial % 4 != 3)
        out = gbt_thresholds(
            torch.from_numpy(m), torch.from_numpy(seen),
            None if w is None else torch.from_numpy(w), tau=tau,
            tau_min=tau_min, use_score_term=use_score,
            use_weight_term=use_weight, unseen_classes=unseen_classes,
            floor_min=floor_min)
        ref = naive_gbt_thresholds(m.tolist(), seen.tolist(),
                                   None if w is None else w.tolist(), tau,
                                   tau_min, use_score, use_weight,
                                   unseen_classes, floor_min)
        assert out.dtype == D
        close(out, ref, rtol=1e-12, atol=1e-12)
        low = tau_min if floor_min is None else floor_min
        assert bool((out >= low - 1e-15).all()) and bool(
            (out <= tau).all())
        checked += int(((out > low) & (out < tau)).sum())
    assert checked > 50  # the thresholds are not all clamped


def test_thresholds_dtype_detach_and_validation():
    m = torch.tensor(M, dtype=torch.float32, requires_grad=True)
    out = gbt_thresholds(m, torch.tensor(ALL_SEEN), torch.tensor(W))
    assert out.dtype == torch.float32 and not out.requires_grad
    close(out, [0.9, 0.6, 0.72, 0.5], rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match='tau_min'):
        thr(tau=0.5, tau_min=0.6)
    with pytest.raises(ValueError, match='positive'):
        thr(w=[1.0, 0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match='background'):
        thr(w=W + [1.0])
    with pytest.raises(ValueError, match='seen'):
        thr(seen=[True] * 3)
    with pytest.raises(ValueError, match='mean_scores'):
        gbt_thresholds(torch.zeros(2, 2), torch.ones(2, dtype=torch.bool))
    with pytest.raises(ValueError, match='tau_min'):
        ClassThresholds(3, tau=0.5, tau_min=0.9)


# --------------------------------------------------------------------------
# ClassThresholds


@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
def test_non_finite_batch_is_skipped_and_counted(bad):
    means = ClassScoreMeans(3, exact_count=10, momentum=0.9)
    means.update(torch.tensor([0, 1]), torch.tensor([0.8, 0.6]))
    before = (means.mean.clone(), means.count.clone())
    # one non-finite score spoils the whole batch (its sums): left out
    means.update(torch.tensor([0, 2]), torch.tensor([0.7, bad]))
    assert torch.equal(means.mean, before[0])
    assert torch.equal(means.count, before[1])
    assert int(means.num_skipped) == 1
    # the next finite batch is folded in as if the bad one never came
    ref = ClassScoreMeans(3, exact_count=10, momentum=0.9)
    for m in (means, ref):
        if m is ref:
            m.update(torch.tensor([0, 1]), torch.tensor([0.8, 0.6]))
        m.update(torch.tensor([2]), torch.tensor([0.5]))
    assert torch.equal(means.mean, ref.mean)
    assert torch.equal(means.count, ref.count)


def test_state_dict_without_num_skipped_loads():
    """Checkpoints written before the counter resume (it starts at 0)."""
    means = ClassScoreMeans(2)
    means.update(torch.tensor([0]), torch.tensor([0.5]))
    old = {k: v for k, v in means.state_dict().items() if k != 'num_skipped'}
    fresh = ClassScoreMeans(2)
    fresh.load_state_dict(old)
    assert torch.equal(fresh.mean, means.mean) and int(fresh.num_skipped) == 0


def test_class_thresholds_module_and_state_dict_round_trip():
    ct = ClassThresholds(4, exact_count=3, momentum=0.9)
    assert ct.thresholds().dtype == torch.float32
    close(ct.thresholds(), [0.9] * 4)  # nothing seen, no weights
    # two detections of class c, both with score M[c]
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    scores = torch.tensor(M + M, dtype=D)
    ct.update(labels, scores)
    close(ct.score_means.mean, M)
    close(ct.thresholds(torch.tensor(W)), [0.9, 0.6, 0.72, 0.5],
          rtol=1e-6,
          atol=1e-7)
    close(ct.thresholds(), [0.9, 0.9, 0.72, 0.81], rtol=1e-6, atol=1e-7)
    ct.update_from_sums(torch.tensor([5, 0, 0, 0]),
                        torch.tensor([5.0, 0.0, 0.0, 0.0]))
    assert ct.score_means.count.tolist() == [7, 2, 2, 2]

    sd = ct.state_dict()
    assert set(sd) == {'score_means.mean', 'score_means.count',
                       'score_means.num_skipped'}
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    fresh = ClassThresholds(4, exact_count=3, momentum=0.9)
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    assert torch.equal(fresh.score_means.mean, ct.score_means.mean)
    assert torch.equal(fresh.score_means.count, ct.score_means.count)
    w = torch.tensor(W)
    assert torch.equal(fresh.thresholds(w), ct.thresholds(w))
    # both continue identically
    for module in (ct, fresh):
        module.update(torch.tensor([0, 1]), torch.tensor([0.1, 0.2]))
    assert torch.equal(fresh.score_means.mean, ct.score_means.mean)

    off = ClassThresholds(4, use_score_term=False, use_weight_term=False)
    off.load_state_dict(sd)
    close(off.thresholds(w), [0.9] * 4)


def test_class_thresholds_new_options_and_lowest_threshold():
    ct = ClassThresholds(4)
    assert ct.unseen_classes == 'floor' and ct.floor_min is None
    assert ct.lowest_threshold == 0.5  # tau_min
    assert "unseen_classes='floor'" in repr(ct)
    # class 2 never detected: 'floor' mode gives it tau_min (see
    # test_thresholds_unseen_floor_reference: [0.9, 0.6, 0.5, 0.5])
    m = [0.72, 0.66, 0.0, 0.54]
    labels = torch.tensor([0, 1, 3])
    ct.update(labels, torch.tensor([m[0], m[1], m[3]], dtype=D))
    assert ct.score_means.seen.tolist() == [True, True, False, True]
    close(ct.thresholds(torch.tensor(W)), [0.9, 0.6, 0.5, 0.5],
          rtol=1e-6, atol=1e-7)
    old = ClassThresholds(4, unseen_classes='tau')
    old.load_state_dict(ct.state_dict())
    # 'tau' mode, mbar = 1.92 / 3 = 0.64: [0.9, 0.6, 0.75, 0.5]
    close(old.thresholds(torch.tensor(W)), [0.9, 0.6, 0.75, 0.5],
          rtol=1e-6, atol=1e-7)
    adaptive = ClassThresholds(4, floor_min=0.3)
    assert adaptive.lowest_threshold == 0.3 and adaptive.tau_min == 0.5
    assert 'floor_min=0.3' in repr(adaptive)
    adaptive.load_state_dict(ct.state_dict())
    # 'floor' + floor_min 0.3: ratio = [1.5, 1.375, 0, 1.125],
    #   floor = max(0.3, 0.5 * [1, 1, 0, 1]) = [0.5, 0.5, 0.3, 0.5]
    #   min(score, weight) = [1.35, 0.6, 0, 0.45] -> [0.9, 0.6, 0.3, 0.5]
    close(adaptive.thresholds(torch.tensor(W)), [0.9, 0.6, 0.3, 0.5],
          rtol=1e-6, atol=1e-7)
    # the state_dict still holds only the running means
    assert set(adaptive.state_dict()) == {'score_means.mean',
                                          'score_means.count',
                                          'score_means.num_skipped'}
    tight = ClassThresholds(4, tau=0.6, tau_min=0.35, floor_min=0.35)
    assert tight.lowest_threshold == 0.35
