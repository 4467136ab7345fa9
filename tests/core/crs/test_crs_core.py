"""Tests of the pure-torch CrS core (``cissod.datasets.samplers``).

References: a hand-computed example, naive per-image Python loops (image
factors, rows of a batch of boxes) and, for the cross-rank merge, a
single-process pool updated with every rank's rows in rank order.
"""
import io
import math
import os
import socket
import time
from typing import Dict, List, Tuple

import pytest
import torch
from torch import Tensor

from cissod_core.crs import (
    PseudoLabelPool,
    boxes_to_rows,
    compute_crs_factors,
    crs_class_factors,
    crs_class_frequencies,
    crs_image_factors,
    crs_lambda,
)

D = torch.float64

# --------------------------------------------------------------------------
# the hand-computed example: 3 classes, 8 labeled images, 5 unlabeled images

LABELED_CLASS_IMAGES = torch.tensor([6, 1, 0])
NUM_LABELED = 8
# kept pseudo boxes (batch position, class, margin); margins are exact in
# float32. Image 0 has two boxes of class 0, image 2 none.
BOXES = [(0, 0, 0.25), (0, 0, 0.125), (0, 1, 0.1875), (1, 0, 0.0625),
         (3, 2, 0.375), (4, 1, 0.5), (4, 0, 0.25)]


def example_pool() -> PseudoLabelPool:
    pos, cls, mrg = (torch.tensor(v) for v in zip(*BOXES))
    ids = torch.arange(5)
    classes, margins = boxes_to_rows(ids, pos, cls, mrg, 3)
    pool = PseudoLabelPool(5, 3, max_classes_per_image=3)
    pool.update(ids, classes, margins)
    return pool


def test_hand_computed_example():
    pool = example_pool()
    # images with class 0: {0, 1, 4}, class 1: {0, 4}, class 2: {3}
    assert pool.class_image_counts().tolist() == [3, 2, 1]
    assert pool.num_images_with_labels() == 4
    # f = ([6, 1, 0] + [3, 2, 1]) / (8 + 4) = [9, 3, 1] / 12
    freq = crs_class_frequencies(LABELED_CLASS_IMAGES, NUM_LABELED,
                                 pool.class_image_counts(),
                                 pool.num_images_with_labels())
    assert freq.dtype == D
    torch.testing.assert_close(freq, torch.tensor([0.75, 0.25, 1 / 12],
                                                  dtype=D))

    # lam = 0.5: r = [max(1, sqrt(2/3)), sqrt(2), sqrt(6)]; every
    # r_c * margin < 1, so every image factor is 1
    cf, imf = compute_crs_factors(pool, LABELED_CLASS_IMAGES, NUM_LABELED,
                                  0.5)
    torch.testing.assert_close(
        cf, torch.tensor([1.0, 1.4142135623730951, 2.449489742783178],
                         dtype=D))
    torch.testing.assert_close(imf, torch.ones(5, dtype=D))

    # lam = 8: r = [sqrt(32/3), sqrt(32), sqrt(96)]
    cf, imf = compute_crs_factors(pool, LABELED_CLASS_IMAGES, NUM_LABELED,
                                  8.0)
    torch.testing.assert_close(
        cf,
        torch.tensor([3.265986323710904, 5.656854249492381, 9.797958971132712],
                     dtype=D))
    expected = torch.tensor([
        1.0606601717798212,  # max(3.266 * 0.25, 5.657 * 0.1875)
        1.0,  # 3.266 * 0.0625 = 0.204 < 1
        1.0,  # no pseudo labels
        3.674234614174767,  # 9.798 * 0.375
        2.8284271247461903,  # max(5.657 * 0.5, 3.266 * 0.25)
    ], dtype=D)
    torch.testing.assert_close(imf, expected)


def test_lambda_schedule():
    assert crs_lambda(0, 1000, 0.5) == 0.0
    assert crs_lambda(250, 1000, 0.5) == pytest.approx(0.125)
    assert crs_lambda(500, 1000, 0.5) == pytest.approx(0.25)
    assert crs_lambda(1000, 1000, 0.5) == 0.5
    assert crs_lambda(5000, 1000, 0.5) == 0.5
    assert crs_lambda(-3, 1000, 0.5) == 0.0
    lams = [crs_lambda(t, 100, 0.05) for t in range(0, 101, 10)]
    assert lams == pytest.approx([0.005 * i for i in range(11)])
    with pytest.raises(ValueError):
        crs_lambda(1, 0, 0.5)


def test_class_factor_edge_cases():
    freq = torch.tensor([0.0, 0.01, 1.0], dtype=D)
    r = crs_class_factors(freq, 0.04)
    # f = 0 -> 1 (no image has the class); sqrt(0.04 / 0.01) = 2; f = 1 -> 1
    torch.testing.assert_close(r, torch.tensor([1.0, 2.0, 1.0], dtype=D))
    assert torch.equal(crs_class_factors(freq, 0.0), torch.ones(3, dtype=D))
    zero = crs_class_frequencies(torch.zeros(3), 0, torch.zeros(3), 0)
    assert torch.equal(zero, torch.zeros(3, dtype=D))


def random_rows(num: int, n: int, k: int, seed: int,
                empty_frac: float = 0.3) -> Tuple[Tensor, Tensor]:
    """Random pool rows: unique classes per row, some rows empty."""
    g = torch.Generator().manual_seed(seed)
    classes = torch.full((num, k), -1, dtype=torch.int16)
    margins = torch.zeros((num, k), dtype=torch.float32)
    for i in range(num):
        if torch.rand((), generator=g) < empty_frac:
            continue
        m = int(torch.randint(1, k + 1, (), generator=g))
        classes[i, :m] = torch.randperm(n, generator=g)[:m].to(torch.int16)
        margins[i, :m] = torch.rand(m, generator=g)
    return classes, margins


def test_image_factors_match_naive_loop():
    n, k = 7, 4
    classes, margins = random_rows(300, n, k, seed=0)
    cf = 1.0 + 5.0 * torch.rand(n, generator=torch.Generator().manual_seed(1),
                                dtype=D)
    got = crs_image_factors(classes, margins, cf)
    ref = []
    for i in range(classes.shape[0]):
        best = 1.0
        for c, m in zip(classes[i].tolist(), margins[i].tolist()):
            if c >= 0:
                best = max(best, float(cf[c]) * m)
        ref.append(best)
    torch.testing.assert_close(got, torch.tensor(ref, dtype=D),
                               rtol=1e-15, atol=0)
    for chunk_rows in (1, 7, 299, 10**6):  # blocks do not change the result
        assert torch.equal(crs_image_factors(classes, margins, cf,
                                             chunk_rows=chunk_rows), got)
    assert bool((got >= 1).all())
    # rows without a valid entry (even with stray margins) give 1
    empty = torch.full((3, k), -1, dtype=torch.int16)
    assert torch.equal(crs_image_factors(empty, torch.ones(3, k), cf),
                       torch.ones(3, dtype=D))


def test_image_factors_at_least_one_on_random_pool():
    pool = PseudoLabelPool(500, 11, 5)
    classes, margins = random_rows(500, 11, 5, seed=3, empty_frac=0.5)
    pool.update(torch.arange(500), classes, margins)
    labeled = torch.randint(0, 50, (11, ),
                            generator=torch.Generator().manual_seed(4))
    for lam in (0.0, 0.05, 0.5, 5.0):
        cf, imf = compute_crs_factors(pool, labeled, 60, lam)
        assert bool((cf >= 1).all()) and bool((imf >= 1).all())
        assert bool((imf[(classes < 0).all(1)] == 1).all())


# --------------------------------------------------------------------------
# boxes_to_rows


def naive_rows(num_rows: int, boxes: List[Tuple[int, int, float]],
               k: int) -> Tuple[Tensor, Tensor]:
    """Per image {class: max margin}, sorted by (-margin, class), first k."""
    per_image: Dict[int, Dict[int, float]] = {}
    for b, c, m in boxes:
        if c < 0 or not 0 <= b < num_rows:
            continue
        d = per_image.setdefault(b, {})
        d[c] = max(d.get(c, -math.inf), m)
    classes = torch.full((num_rows, k), -1, dtype=torch.int16)
    margins = torch.zeros((num_rows, k), dtype=torch.float32)
    for b, d in per_image.items():
        items = sorted(d.items(), key=lambda cm: (-cm[1], cm[0]))[:k]
        for j, (c, m) in enumerate(items):
            classes[b, j] = c
            margins[b, j] = m
    return classes, margins


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_boxes_to_rows_matches_naive(seed):
    g = torch.Generator().manual_seed(seed)
    num_rows, n, k, num_boxes = 9, 12, 3, 80
    pos = torch.randint(0, num_rows, (num_boxes, ), generator=g)
    pos[pos == 4] = 5  # image 4 has no boxes
    cls = torch.randint(0, n, (num_boxes, ), generator=g)
    cls[:3] = -1  # ignored
    mrg = torch.rand(num_boxes, generator=g).to(torch.float32)
    ids = torch.arange(100, 100 + num_rows)
    classes, margins = boxes_to_rows(ids, pos, cls, mrg, k)
    boxes = list(zip(pos.tolist(), cls.tolist(), mrg.tolist()))
    ref_c, ref_m = naive_rows(num_rows, boxes, k)
    assert classes.dtype == torch.int16 and margins.dtype == torch.float32
    assert torch.equal(classes, ref_c)
    assert torch.equal(margins, ref_m)
    assert bool((classes[4] == -1).all()) and bool((margins[4] == 0).all())
    # truncation happened: some image had more than k distinct classes
    distinct = [len({c for b, c, _ in boxes if b == i and c >= 0})
                for i in range(num_rows)]
    assert max(distinct) > k


def test_boxes_to_rows_ties_and_no_boxes():
    pos = torch.tensor([0, 0, 0, 1])
    cls = torch.tensor([5, 2, 7, 3])
    mrg = torch.tensor([0.5, 0.5, 0.25, 0.75])
    classes, margins = boxes_to_rows(torch.arange(3), pos, cls, mrg, 2)
    assert classes.tolist() == [[2, 5], [3, -1], [-1, -1]]
    assert margins.tolist() == [[0.5, 0.5], [0.75, 0.0], [0.0, 0.0]]
    empty = torch.zeros(0, dtype=torch.long)
    classes, margins = boxes_to_rows(torch.arange(2), empty, empty,
                                     torch.zeros(0), 4)
    assert bool((classes == -1).all()) and bool((margins == 0).all())


# --------------------------------------------------------------------------
# pool


def test_update_replaces_rows_and_ignores_padding():
    pool = PseudoLabelPool(6, 4, 2)
    pool.update(torch.tensor([1, 3]),
                torch.tensor([[0, 2], [1, -1]], dtype=torch.int16),
                torch.tensor([[0.5, 0.25], [0.125, 0.0]]))
    assert pool.class_image_counts().tolist() == [1, 1, 1, 0]
    # image 1 seen again with other labels: replaced, not merged; padding
    # row (-1) ignored; image 3 twice in one update: the last row wins
    n = pool.update(torch.tensor([1, -1, 3, 3]),
                    torch.tensor([[3, -1], [0, 1], [2, -1], [-1, -1]],
                                 dtype=torch.int16),
                    torch.tensor([[0.75, 9.0], [1.0, 1.0], [0.5, 0.0],
                                  [0.0, 0.0]]))
    assert n == 2
    assert pool.classes[1].tolist() == [3, -1]
    assert pool.margins[1].tolist() == [0.75, 0.0]  # empty slot stored as 0
    assert pool.classes[3].tolist() == [-1, -1]
    assert pool.class_image_counts().tolist() == [0, 0, 0, 1]
    assert pool.num_images_with_labels() == 1
    assert bool((pool.classes[[0, 2, 4, 5]] == -1).all())
    assert len(pool) == 6 and pool.nbytes() == 6 * 2 * (2 + 4)
    with pytest.raises(IndexError):
        pool.update(torch.tensor([6]), torch.tensor([[0, -1]]),
                    torch.zeros(1, 2))
    with pytest.raises(ValueError):
        pool.update(torch.tensor([0]), torch.tensor([[4, -1]]),
                    torch.zeros(1, 2))


def test_pack_unpack_round_trip():
    classes, margins = random_rows(5, 9, 3, seed=5)
    idx = torch.tensor([4, -1, 0, 17, 2])
    packed = PseudoLabelPool.pack_rows(idx, classes, margins, pad_to=8)
    assert packed.shape == (8, 7) and packed.dtype == D
    i, c, m = PseudoLabelPool.unpack_rows(packed)
    assert torch.equal(i[:5], idx) and bool((i[5:] == -1).all())
    assert torch.equal(c[:5], classes) and bool((c[5:] == -1).all())
    assert torch.equal(m[:5], margins) and bool((m[5:] == 0).all())
    with pytest.raises(ValueError):
        PseudoLabelPool.pack_rows(idx, classes, margins, pad_to=4)


def test_state_dict_round_trip_and_wrong_size():
    pool = PseudoLabelPool(50, 6, 3)
    classes, margins = random_rows(50, 6, 3, seed=6)
    pool.update(torch.arange(50), classes, margins)
    buf = io.BytesIO()
    torch.save(pool.state_dict(), buf)  # as a checkpoint would
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    other = PseudoLabelPool(50, 6, 3)
    other.load_state_dict(state)
    assert torch.equal(other.classes, pool.classes)
    assert torch.equal(other.margins, pool.margins)
    for bad in (PseudoLabelPool(51, 6, 3), PseudoLabelPool(50, 7, 3),
                PseudoLabelPool(50, 6, 4)):
        with pytest.raises(ValueError, match='different unlabeled dataset'):
            bad.load_state_dict(state)


# --------------------------------------------------------------------------
# merge across 2 processes (gloo)

NUM_IMAGES, NUM_CLASSES, K, PAD = 20, 5, 3, 4


def rank_batches(rank: int) -> List[Tuple[Tensor, Tensor, Tensor]]:
    """Two iterations of rows per rank: different images, different batch
    sizes, one image (7) seen by both ranks in iteration 1 (rank 1 wins)."""
    out = []
    for it in range(2):
        ids = {(0, 0): [0, 1, 2], (1, 0): [10, 11],
               (0, 1): [3, 7], (1, 1): [7, 12, 13, 14]}[rank, it]
        classes, margins = random_rows(len(ids), NUM_CLASSES, K,
                                       seed=100 * rank + it, empty_frac=0.2)
        out.append((torch.tensor(ids), classes, margins))
    return out


def _dist_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    """One rank: record its rows with ``sync_and_update``, save the pool and
    the factors. Leaves with ``os._exit`` so that the gloo process group is
    never destroyed: ``ProcessGroupGloo``'s destructor can deadlock at
    teardown (seen with torch 2.5.1), which would hang the test."""
    import datetime
    import traceback

    import torch.distributed as dist
    code = 1
    try:
        torch.set_num_threads(1)
        dist.init_process_group('gloo',
                                init_method=f'tcp://127.0.0.1:{port}',
                                rank=rank, world_size=world_size,
                                timeout=datetime.timedelta(seconds=30))
        pool = PseudoLabelPool(NUM_IMAGES, NUM_CLASSES, K)
        for it, (ids, classes, margins) in enumerate(rank_batches(rank)):
            # iteration 1: each rank pads to its own size (2 and 4 rows), the
            # ranks must agree on 4
            pad_to = PAD if it == 0 else len(ids)
            pool.sync_and_update(ids, classes, margins, pad_to=pad_to)
        cf, imf = compute_crs_factors(pool, torch.arange(NUM_CLASSES), 10,
                                      4.0)
        torch.save({'classes': pool.classes, 'margins': pool.margins,
                    'cf': cf, 'imf': imf},
                   os.path.join(out_dir, f'rank{rank}.pt'))
        dist.barrier()  # nobody leaves while the other may still talk
        code = 0
    except BaseException:
        with open(os.path.join(out_dir, f'rank{rank}.err'), 'w') as f:
            f.write(traceback.format_exc())
    finally:
        os._exit(code)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_pool_merge_across_two_processes(tmp_path):
    import torch.multiprocessing as mp
    ctx = mp.spawn(_dist_worker, args=(2, free_port(), str(tmp_path)),
                   nprocs=2, join=False)
    deadline = time.monotonic() + 90
    try:
        while not ctx.join(timeout=0.5):
            if time.monotonic() > deadline:
                pytest.fail('the 2 ranks did not finish within 90 s')
    except mp.ProcessRaisedException as exc:  # pragma: no cover
        pytest.fail(str(exc))
    except mp.ProcessExitedException:  # pragma: no cover
        errors = [p.read_text() for p in sorted(tmp_path.glob('*.err'))]
        pytest.fail('a rank failed:\n' + '\n'.join(errors))
    finally:
        for proc in ctx.processes:  # only left alive after a failure
            if proc.is_alive():
                proc.kill()
    r0 = torch.load(tmp_path / 'rank0.pt', weights_only=True)
    r1 = torch.load(tmp_path / 'rank1.pt', weights_only=True)
    ref = PseudoLabelPool(NUM_IMAGES, NUM_CLASSES, K)
    batches = [rank_batches(0), rank_batches(1)]
    for it in range(2):
        for rank in range(2):
            ref.update(*batches[rank][it])
    cf, imf = compute_crs_factors(ref, torch.arange(NUM_CLASSES), 10, 4.0)
    for res in (r0, r1):
        assert torch.equal(res['classes'], ref.classes)
        assert torch.equal(res['margins'], ref.margins)
        assert torch.equal(res['cf'], cf)
        assert torch.equal(res['imf'], imf)
    # rank 1's view of image 7 won
    assert torch.equal(ref.classes[7], batches[1][1][1][0])
    assert ref.num_images_with_labels() > 0


# --------------------------------------------------------------------------
# margins of the kept pseudo boxes (crs_margins)


def test_crs_margins_hand_values():
    from cissod_core.crs.class_rebalancing import MARGIN_MODES, crs_margins
    assert MARGIN_MODES == ('score_minus_threshold', 'normalized')
    # values exact in binary floating point
    scores = torch.tensor([0.875, 0.75, 0.625, 0.5, 0.9375])
    thresholds = torch.tensor([0.75, 0.5, 0.5, 0.5, 0.875])
    # reference: s - theta = [0.125, 0.25, 0.125, 0.0, 0.0625]
    ref = crs_margins(scores, thresholds, 'score_minus_threshold')
    assert ref.dtype == torch.float32
    assert ref.tolist() == [0.125, 0.25, 0.125, 0.0, 0.0625]
    # the default mode is the reference
    assert torch.equal(crs_margins(scores, thresholds), ref)
    # normalized: (s - theta) / (1 - theta)
    #   = [0.125 / 0.25, 0.25 / 0.5, 0.125 / 0.5, 0 / 0.5, 0.0625 / 0.125]
    #   = [0.5, 0.5, 0.25, 0.0, 0.5]
    norm = crs_margins(scores, thresholds, 'normalized')
    assert norm.dtype == torch.float32
    assert norm.tolist() == [0.5, 0.5, 0.25, 0.0, 0.5]
    # float64 in, float64 out; theta = 0.9, s = 0.95: 0.05 and 0.5
    s64 = torch.tensor([0.95], dtype=D)
    t64 = torch.tensor([0.9], dtype=D)
    torch.testing.assert_close(crs_margins(s64, t64),
                               torch.tensor([0.05], dtype=D))
    torch.testing.assert_close(crs_margins(s64, t64, 'normalized'),
                               torch.tensor([0.5], dtype=D))
    # theta = 1 does not divide by zero (1 - theta clamped to 1e-6)
    one = crs_margins(torch.tensor([1.0]), torch.tensor([1.0]), 'normalized')
    assert one.tolist() == [0.0] and bool(torch.isfinite(one).all())
    # a box at the top of its range gets its class factor in full:
    #   s = 1 -> normalized margin 1 for every theta < 1
    theta = torch.tensor([0.1, 0.5, 0.9, 0.99], dtype=D)
    torch.testing.assert_close(
        crs_margins(torch.ones(4, dtype=D), theta, 'normalized'),
        torch.ones(4, dtype=D))
    # empty input
    assert crs_margins(torch.zeros(0), torch.zeros(0), 'normalized').numel() \
        == 0


def test_crs_margins_bad_mode():
    from cissod_core.crs.class_rebalancing import crs_margins
    with pytest.raises(ValueError, match='margin mode'):
        crs_margins(torch.ones(2), torch.zeros(2), 'ratio')
    with pytest.raises(ValueError, match='normalized'):
        crs_margins(torch.ones(2), torch.zeros(2), 'Normalized')
