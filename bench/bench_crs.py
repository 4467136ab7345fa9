"""Benchmark of the CrS core (``cissod_core.crs``) on the CPU.

Usage::

    .venv/bin/python bench/bench_crs.py [--images 1700000] [--subset 50000]
        [--repeats 5]

On a synthetic pool at Objects365 scale (1.7 M unlabeled images, 365
classes, Zipf(1.5)-distributed classes, Poisson(5) kept pseudo boxes per
image, margins ``score - 0.9`` uniform in [0, 0.1), lam = gamma = 0.05,
``max_classes_per_image`` K = 8; labeled: COCO train2017 on the 78 majority
classes plus 5k Objects365 images), 2 torch threads, it measures in one run:

(a) the vectorised factor recomputation over the whole pool
    (:func:`compute_crs_factors`: class image counts + frequencies + class
    factors + image factors; best of ``--repeats``), and the pool's memory;
(b) a straightforward per-image Python version of the same recomputation
    from per-image lists of ``(class, margin)`` boxes, on the first
    ``--subset`` images, extrapolated linearly to the full pool, and the
    speed-up (b) / (a);
(c) recording one iteration: :func:`boxes_to_rows` of one rank's batch of
    4 unlabeled images, then ``pack_rows`` / ``unpack_rows`` / ``update`` of
    the 32 rows that 8 ranks all-gather (no real communication here).

It also checks (a) against (b) on the subset (pool built with K large
enough to hold every image's classes, so both must agree to rounding) and
counts the images of the full pool truncated at K = 8.

The stdout of a run is what ``bench/results_crs.txt`` holds.
"""
import argparse
import math
import os
import platform
import time
from typing import Callable, List, Tuple

import torch
from torch import Tensor

from cissod_core.crs import PseudoLabelPool, boxes_to_rows, compute_crs_factors

NUM_CLASSES = 365
NUM_LABELED_COCO = 118_287  # COCO train2017, as in COCO -> Objects365
BOXES_PER_IMAGE = 5.0
ZIPF_ALPHA = 1.5  # rarest class ~ 5e-5 of the boxes
NUM_MAJORITY = 78  # classes with a COCO counterpart
NUM_LABELED_O365 = 5_000  # labeled Objects365 images (all classes)
THETA = 0.9
LAM = 0.05  # gamma of COCO -> O365, reached after T
K = 8


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def zipf_probs(n: int, alpha: float) -> Tensor:
    """``(n,)`` float64 class probabilities ``~ rank^-alpha``."""
    p = torch.arange(1, n + 1, dtype=torch.float64).pow(-alpha)
    return p / p.sum()


def synthetic_boxes(num_images: int, gen: torch.Generator
                    ) -> Tuple[Tensor, Tensor, Tensor]:
    """Kept pseudo boxes of a long-tailed unlabeled set.

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``(M,)`` image index (sorted), class
        and margin of every box.
    """
    per_image = torch.poisson(
        torch.full((num_images, ), BOXES_PER_IMAGE, dtype=torch.float64),
        generator=gen).long()
    image = torch.repeat_interleave(torch.arange(num_images), per_image)
    m = image.numel()
    classes = torch.multinomial(zipf_probs(NUM_CLASSES, ZIPF_ALPHA).float(),
                                m, replacement=True, generator=gen)
    margins = torch.rand(m, generator=gen) * (1.0 - THETA)
    return image, classes, margins


def labeled_stats() -> Tuple[Tensor, int]:
    """Images containing each class in a COCO -> Objects365 labeled set.

    COCO images cover only the first ``NUM_MAJORITY`` classes (milder long
    tail), a few Objects365 images cover all classes (the pool's long
    tail); Poisson(5) boxes per image: an image contains class c with
    probability ``1 - exp(-5 p_c)``.

    Returns:
        tuple[Tensor, int]: ``(n,)`` long counts and the number of labeled
        images.
    """
    def images_with(p: Tensor, num: int) -> Tensor:
        return num * (1 - torch.exp(-BOXES_PER_IMAGE * p))

    counts = images_with(zipf_probs(NUM_CLASSES, ZIPF_ALPHA), NUM_LABELED_O365)
    counts[:NUM_MAJORITY] += images_with(zipf_probs(NUM_MAJORITY, 0.8),
                                         NUM_LABELED_COCO)
    return counts.round().long(), NUM_LABELED_COCO + NUM_LABELED_O365


def per_image_lists(image: Tensor, classes: Tensor, margins: Tensor,
                    num_images: int) -> List[List[Tuple[int, float]]]:
    """Boxes of the first ``num_images`` images as Python lists."""
    keep = image < num_images
    lists: List[List[Tuple[int, float]]] = [[] for _ in range(num_images)]
    for i, c, m in zip(image[keep].tolist(), classes[keep].tolist(),
                       margins[keep].tolist()):
        lists[i].append((c, m))
    return lists


def naive_factors(images: List[List[Tuple[int, float]]],
                  labeled: List[int], num_labeled: int,
                  lam: float) -> Tuple[List[float], List[float]]:
    """Straightforward per-image Python CrS recomputation (the reference)."""
    n = len(labeled)
    counts = [0] * n
    with_labels = 0
    for boxes in images:
        if boxes:
            with_labels += 1
            for c in {c for c, _ in boxes}:
                counts[c] += 1
    total = num_labeled + with_labels
    r = []
    for c in range(n):
        f = (labeled[c] + counts[c]) / total
        r.append(max(1.0, math.sqrt(lam / f)) if f > 0 else 1.0)
    out = []
    for boxes in images:
        best = 1.0
        for c, m in boxes:
            best = max(best, r[c] * m)
        out.append(best)
    return r, out


def build_pool(image: Tensor, classes: Tensor, margins: Tensor,
               num_images: int, k: int) -> PseudoLabelPool:
    """Pool of ``num_images`` images from sorted boxes (one bulk update)."""
    keep = image < num_images
    ids = torch.arange(num_images)
    rows = boxes_to_rows(ids, image[keep], classes[keep], margins[keep], k)
    pool = PseudoLabelPool(num_images, NUM_CLASSES, k)
    pool.update(ids, *rows)
    return pool


def bench_record(gen: torch.Generator, pool: PseudoLabelPool,
                 repeats: int = 300) -> Tuple[float, float]:
    """Best time of one rank's ``boxes_to_rows`` (4 images) and of
    pack + unpack + ``update`` of 8 ranks' rows (32 images), in seconds."""
    ranks, per_rank = 8, 4
    batches = []
    for _ in range(ranks):
        ids = torch.randint(0, len(pool), (per_rank, ), generator=gen)
        img, cls, mrg = synthetic_boxes(per_rank, gen)
        batches.append((ids, img, cls, mrg))
    ids, img, cls, mrg = batches[0]
    t_rows = best_time(lambda: boxes_to_rows(ids, img, cls, mrg, K), repeats)
    rows = boxes_to_rows(ids, img, cls, mrg, K)
    others = [  # what all_gather would return from ranks 1..7
        PseudoLabelPool.pack_rows(b[0], *boxes_to_rows(*b, K), per_rank)
        for b in batches[1:]
    ]

    def apply() -> None:
        own = PseudoLabelPool.pack_rows(ids, *rows, per_rank)
        pool.update(*PseudoLabelPool.unpack_rows(torch.cat([own] + others)))

    return t_rows, best_time(apply, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=1_700_000)
    parser.add_argument('--subset', type=int, default=50_000)
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(2)
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    print(f'CrS core benchmark: torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads, {os.cpu_count()} CPUs '
          f'({platform.processor() or platform.machine()}), load average '
          f'{load:.2f}')
    gen = torch.Generator().manual_seed(0)
    N = args.images
    t0 = time.perf_counter()
    image, classes, margins = synthetic_boxes(N, gen)
    pool = build_pool(image, classes, margins, N, K)
    t_build = time.perf_counter() - t0
    labeled, num_labeled = labeled_stats()
    empty = N - pool.num_images_with_labels()
    distinct = torch.bincount(
        torch.unique(image * NUM_CLASSES + classes) // NUM_CLASSES,
        minlength=N)
    print(f'pool: {N:,} images, {NUM_CLASSES} classes, {image.numel():,} '
          f'kept pseudo boxes (Poisson({BOXES_PER_IMAGE:g}) per image, Zipf '
          f'{ZIPF_ALPHA} classes, margins U[0, {1 - THETA:.1f})), '
          f'{empty:,} images without pseudo labels, '
          f'{int((distinct > K).sum()):,} images with > K = {K} classes '
          f'(truncated); built in {t_build:.1f} s (one bulk boxes_to_rows)')
    print(f'labeled: {num_labeled:,} images ({NUM_LABELED_COCO:,} COCO with '
          f'the {NUM_MAJORITY} majority classes + {NUM_LABELED_O365:,} '
          f'Objects365); lam = {LAM}')
    print()

    t_vec = best_time(
        lambda: compute_crs_factors(pool, labeled, num_labeled, LAM),
        args.repeats)
    t_counts = best_time(pool.class_image_counts, args.repeats)
    t_with = best_time(pool.num_images_with_labels, args.repeats)
    cf, imf = compute_crs_factors(pool, labeled, num_labeled, LAM)
    print(f'(a) vectorised recomputation, {N:,} images: {t_vec * 1e3:8.1f} ms'
          f'  (best of {args.repeats}; target < 1000 ms)')
    print(f'    of which class_image_counts {t_counts * 1e3:.1f} ms, '
          f'num_images_with_labels {t_with * 1e3:.1f} ms')
    print(f'    pool memory: {pool.nbytes() / 1e6:.1f} MB (classes int16 + '
          f'margins float32, {N:,} x {K}); image factors {imf.numel():,} '
          f'float64 = {imf.numel() * 8 / 1e6:.1f} MB')
    print(f'    r_c in [{cf.min():.2f}, {cf.max():.2f}]; r(I) > 1 for '
          f'{int((imf > 1).sum()):,} images, max r(I) = {imf.max():.2f}')

    S = min(args.subset, N)
    lists = per_image_lists(image, classes, margins, S)
    lab = labeled.tolist()
    t_naive = best_time(lambda: naive_factors(lists, lab, num_labeled, LAM),
                        max(1, args.repeats // 2))
    t_full = t_naive * N / S
    print(f'(b) per-image Python, {S:,} images: {t_naive * 1e3:8.1f} ms '
          f'-> extrapolated to {N:,}: {t_full:.2f} s')
    print(f'    speed-up (b) / (a): {t_full / t_vec:.0f}x')

    sub = build_pool(image, classes, margins, S, int(distinct[:S].max()))
    cf_s, imf_s = compute_crs_factors(sub, labeled, num_labeled, LAM)
    r_ref, out_ref = naive_factors(lists, lab, num_labeled, LAM)
    dc = (cf_s - torch.tensor(r_ref, dtype=torch.float64)).abs().max()
    di = (imf_s - torch.tensor(out_ref, dtype=torch.float64)).abs().max()
    print(f'    check on the subset (K = {sub.max_classes_per_image}, no '
          f'truncation): max |diff| class factors {dc:.1e}, image factors '
          f'{di:.1e}')

    t_rows, t_apply = bench_record(gen, pool)
    print(f'(c) boxes_to_rows, one rank (4 images): {t_rows * 1e6:.0f} us; '
          f'pack/unpack + update of 8 ranks x 4 rows: {t_apply * 1e6:.0f} us '
          f'(best of 300)')


if __name__ == '__main__':
    main()
