"""Class-rebalancing sampling (CrS) factors, pure torch (docs/cissod.md).

Notation: n foreground classes, N unlabeled images, t the training
iteration, T the total number of iterations.

    lam     = min(gamma * t / T, gamma)
    f_c     = (labeled images containing c + pool images with a pseudo box
               of c) / (labeled images + pool images with any pseudo box)
    r_c     = max(1, sqrt(lam / f_c))
    r(I)    = max(1, max over the pseudo boxes b of I of r_{c_b} * margin_b)

where ``margin_b = score_b - theta_{c_b} >= 0`` is how far the teacher's
score of a kept pseudo box lies above its class threshold. Images without
pseudo labels get ``r(I) = 1``. The unlabeled source of the sampler then
draws images in proportion to ``r(I)`` (or repeats them ``ceil(r(I))``
times, as repeat-factor sampling does).

Scale: with thresholds theta = 0.9 the margins are below 0.1, so an image
gets ``r(I) > 1`` only through a class with ``r_c > 10``, i.e.
``f_c < lam / 100`` (5e-4 for lam = 0.05): only the rarest classes raise
image factors (see ``bench/results_crs.txt`` for a synthetic
Objects365-scale example).

The pseudo labels come from :class:`.pseudo_label_pool.PseudoLabelPool`, one
row per unlabeled image holding the image's unique pseudo-label classes with
their maximum margin (``-1`` = empty slot). Everything here is vectorised
over the whole pool: at Objects365 scale (1.7 M images, 365 classes) a full
recomputation is a handful of passes over a ``(N, K)`` table (see
``bench/bench_crs.py``).

All results are float64 CPU tensors (or live on the device of the inputs).
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from .pseudo_label_pool import PseudoLabelPool

__all__ = [
    'MARGIN_MODES', 'crs_margins', 'crs_lambda', 'crs_class_frequencies',
    'crs_class_factors', 'crs_image_factors', 'compute_crs_factors'
]

# elements per block of :func:`crs_image_factors`: just below torch's
# intra-op grain size (32768), so that every op on a block runs serially
BLOCK_ELEMENTS = 32000


#: How a kept pseudo box's margin is measured (see :func:`crs_margins`).
MARGIN_MODES = ('score_minus_threshold', 'normalized')


def crs_margins(scores: Tensor, thresholds: Tensor,
                mode: str = 'score_minus_threshold') -> Tensor:
    """Margins of kept pseudo boxes, the CrS image-factor weights.

    * ``'score_minus_threshold'`` (the reference): ``score - theta_c``, at
      most ``1 - theta_c`` (0.1 at theta = 0.9), so ``r_c * margin > 1``
      needs ``r_c > 1 / (1 - theta_c)``.
    * ``'normalized'`` (an option): ``(score - theta_c) / (1 - theta_c)``
      in [0, 1]: how far the score lies between its class threshold and
      certainty, so that a confident box of a rare class passes its full
      ``r_c`` to its image whatever the threshold.

    Args:
        scores (Tensor): ``(M,)`` scores of the kept pseudo boxes.
        thresholds (Tensor): ``(M,)`` the class threshold of each box.
        mode (str): one of :data:`MARGIN_MODES`.

    Returns:
        Tensor: ``(M,)`` margins, same dtype as ``scores``.
    """
    margin = scores - thresholds
    if mode == 'score_minus_threshold':
        return margin
    if mode == 'normalized':
        return margin / (1.0 - thresholds).clamp(min=1e-6)
    raise ValueError(f'margin mode must be one of {MARGIN_MODES}, got '
                     f'{mode!r}')


def crs_lambda(iter: int, max_iters: int, gamma: float) -> float:  # noqa: A002
    """Rebalancing strength ``lam = min(gamma * t / T, gamma)``.

    Grows linearly from 0 at ``t = 0`` to ``gamma`` at ``t = T`` and stays
    there afterwards. Negative iterations are treated as 0.

    Args:
        iter (int): current training iteration t (0-based).
        max_iters (int): total number of training iterations T (> 0).
        gamma (float): maximum strength (0.5 on COCO, 0.05 on COCO->O365 and
            LVIS), >= 0.

    Returns:
        float: lam in ``[0, gamma]``.
    """
    if max_iters <= 0:
        raise ValueError(f'max_iters must be > 0, got {max_iters}')
    if gamma < 0:
        raise ValueError(f'gamma must be >= 0, got {gamma}')
    t = max(int(iter), 0)
    return min(float(gamma) * t / int(max_iters), float(gamma))


def crs_class_frequencies(labeled_class_images: Tensor,
                          num_labeled_images: int,
                          pool_class_images: Tensor,
                          num_pool_images_with_labels: int) -> Tensor:
    """Image frequency ``f_c`` of every class over labeled + pseudo-labeled.

    Args:
        labeled_class_images (Tensor): ``(n,)`` number of labeled images
            that contain at least one box of class c.
        num_labeled_images (int): number of labeled images (with or without
            boxes: the labeled set as the sampler sees it).
        pool_class_images (Tensor): ``(n,)`` number of unlabeled images with
            at least one pseudo box of class c
            (:meth:`PseudoLabelPool.class_image_counts`).
        num_pool_images_with_labels (int): number of unlabeled images with at
            least one pseudo box
            (:meth:`PseudoLabelPool.num_images_with_labels`).

    Returns:
        Tensor: ``(n,)`` float64 ``f_c``; all zeros when the denominator is
        0 (no labeled and no pseudo-labeled image).
    """
    labeled = labeled_class_images.detach().reshape(-1).to(torch.float64)
    pool = pool_class_images.detach().reshape(-1).to(
        device=labeled.device, dtype=torch.float64)
    if labeled.shape != pool.shape:
        raise ValueError(f'labeled counts have {labeled.numel()} classes, '
                         f'pool counts {pool.numel()}')
    if num_labeled_images < 0 or num_pool_images_with_labels < 0:
        raise ValueError('image counts must be >= 0, got '
                         f'{num_labeled_images} and '
                         f'{num_pool_images_with_labels}')
    total = int(num_labeled_images) + int(num_pool_images_with_labels)
    if total == 0:
        return torch.zeros_like(labeled)
    return (labeled + pool) / total


def crs_class_factors(freq: Tensor, lam: float) -> Tensor:
    """Class factors ``r_c = max(1, sqrt(lam / f_c))``.

    A class with ``f_c == 0`` occurs in no labeled and no pseudo-labeled
    image, so no image can carry its factor: it gets 1 instead of infinity
    (keeps the table finite; it never influences any ``r(I)``).

    Args:
        freq (Tensor): ``(n,)`` class image frequencies ``f_c`` in [0, 1].
        lam (float): rebalancing strength (:func:`crs_lambda`), >= 0.

    Returns:
        Tensor: ``(n,)`` float64 ``r_c >= 1``.
    """
    if lam < 0:
        raise ValueError(f'lam must be >= 0, got {lam}')
    f = freq.detach().reshape(-1).to(torch.float64)
    present = f > 0
    ratio = float(lam) / torch.where(present, f, torch.ones_like(f))
    r = ratio.sqrt_().clamp_(min=1.0)
    return torch.where(present, r, torch.ones_like(r))


def crs_image_factors(pool_classes: Tensor,
                      pool_margins: Tensor,
                      class_factors: Tensor,
                      chunk_rows: Optional[int] = None) -> Tensor:
    """Image factors ``r(I) = max(1, max_k r_{c_k} * margin_k)``.

    Per block of rows: one gather of the class factors through a lookup
    table whose entry 0 is the empty slot (``class -1 -> 0``), one multiply
    and one row-wise ``amax``: no Python loop over images. Rows without a
    valid entry give ``max(1, 0) = 1``.

    Blocks: by default ``chunk_rows * K`` stays just below torch's intra-op
    grain size (32768 elements), so the float64 temporaries (256 KB) stay
    in the CPU cache and every op runs serially, without one thread-pool
    synchronisation per op. Measured at 1.7 M images, K = 8, 2 threads on
    a 2-core machine busy with other work: 50-80 ms, against 150-300 ms for
    one full-size pass and 300-600 ms for blocks of 32768 rows (whose ops
    run in parallel and wait for the busy cores). Results do not depend on
    the block size.

    Args:
        pool_classes (Tensor): ``(N, K)`` integer classes, ``-1`` = empty
            (any integer dtype, e.g. the pool's int16).
        pool_margins (Tensor): ``(N, K)`` margins ``>= 0`` (ignored where the
            class is ``-1``).
        class_factors (Tensor): ``(n,)`` ``r_c`` (:func:`crs_class_factors`).
        chunk_rows (int, optional): rows per block; default
            ``BLOCK_ELEMENTS // K``.

    Returns:
        Tensor: ``(N,)`` float64 ``r(I) >= 1``.
    """
    if pool_classes.dim() != 2 or pool_classes.shape != pool_margins.shape:
        raise ValueError('pool_classes and pool_margins must both be (N, K), '
                         f'got {tuple(pool_classes.shape)} and '
                         f'{tuple(pool_margins.shape)}')
    num_images, k = pool_classes.shape
    out = torch.ones(num_images, dtype=torch.float64,
                     device=pool_classes.device)
    if k == 0 or num_images == 0:
        return out
    factors = class_factors.detach().reshape(-1).to(torch.float64)
    # table[0] = 0 for the empty slot (-1), table[c + 1] = r_c
    table = torch.cat([factors.new_zeros(1), factors]).to(pool_classes.device)
    if chunk_rows is None:
        chunk_rows = BLOCK_ELEMENTS // k
    step = max(int(chunk_rows), 1)
    for start in range(0, num_images, step):
        stop = min(start + step, num_images)
        idx = (pool_classes[start:stop].reshape(-1) + 1).to(torch.int32)
        r = table.index_select(0, idx).view(stop - start, k)
        r.mul_(pool_margins[start:stop])
        torch.amax(r, dim=1, out=out[start:stop])
    return out.clamp_(min=1.0)


def compute_crs_factors(pool: PseudoLabelPool, labeled_class_images: Tensor,
                        num_labeled_images: int,
                        lam: float) -> Tuple[Tensor, Tensor]:
    """Class and image factors of the current pool (the whole recomputation).

    Args:
        pool (PseudoLabelPool): the pseudo labels of the unlabeled images.
        labeled_class_images (Tensor): ``(n,)`` number of labeled images
            containing class c.
        num_labeled_images (int): number of labeled images.
        lam (float): rebalancing strength (:func:`crs_lambda`).

    Returns:
        tuple[Tensor, Tensor]: ``class_factors`` ``(n,)`` and
        ``image_factors`` ``(N,)``, both float64, both ``>= 1``.
    """
    if labeled_class_images.numel() != pool.num_classes:
        raise ValueError(f'labeled counts have {labeled_class_images.numel()} '
                         f'classes, the pool {pool.num_classes}')
    freq = crs_class_frequencies(labeled_class_images, num_labeled_images,
                                 pool.class_image_counts(),
                                 pool.num_images_with_labels())
    class_factors = crs_class_factors(freq, lam)
    image_factors = crs_image_factors(pool.classes, pool.margins,
                                      class_factors)
    return class_factors, image_factors
