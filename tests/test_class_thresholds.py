"""Tests of the pure-torch GbT core (``cissod.models.thresholds``).

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

from cissod.models.thresholds import (ClassScoreMeans, ClassThresholds,
                                      class_score_sums, gbt_thresholds)

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
    # class 2 unseen (its mean 0.3 is ignored): mbar = 1.92 / 3 = 0.64,
    #   score term = 0.9 * m / 0.64 = [1.0125, 0.928125, 0.9, 0.759375]
    #   min with [1.8, 0.6, 0.75, 0.45] = [1.0125, 0.6, 0.75, 0.45]
    m = [0.72, 0.66, 0.3, 0.54]
    seen = [True, True, False, True]
    close(thr(m, seen), [0.9, 0.6, 0.75, 0.5])
    close(thr(m, seen, w=None), [0.9, 0.9, 0.9, 0.759375])
    # no class seen: score term tau everywhere
    close(thr([0.0] * 4, [False] * 4), [0.9, 0.6, 0.75, 0.5])
    close(thr([0.0] * 4, [False] * 4, w=None), [0.9] * 4)
    # seen but every mean 0: score term tau (no division by zero)
    close(thr([0.0] * 4, ALL_SEEN, w=None), [0.9] * 4)


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
    assert set(sd) == {'score_means.mean', 'score_means.count'}
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
