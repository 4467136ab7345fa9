"""Gradient-based thresholding (GbT): class-wise pseudo-label thresholds
(docs/cissod.md).

Two pieces, both pure torch:

1. :class:`ClassScoreMeans` keeps, per class c, a running mean ``m_c`` of
   the scores of the teacher's detections of class c: the exact arithmetic
   mean of the first ``exact_count`` (1000) detections of the class, then an
   EMA with factor ``momentum`` (0.999) per further detection.
2. :func:`gbt_thresholds` turns those means and the foreground GbR class
   weights ``w_c`` into the thresholds

       theta_c = clip( min( tau * m_c / mean_c(m_c),  tau / w_c ),
                       tau_min, tau )

   with ``tau = cls_pseudo_thr`` (0.9) and ``tau_min =
   pseudo_label_initial_score_thr`` (0.5). A frequent, confidently detected
   class (large ``m_c``, small ``w_c``) keeps ``tau``; a rare or poorly
   scored class gets a lower threshold, never below ``tau_min``.

:class:`ClassThresholds` bundles both with the configuration; its
``state_dict`` holds the running means (``score_means.mean``,
``score_means.count``) and ``score_means.num_skipped``, so a checkpoint
resumes them exactly.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

__all__ = [
    'class_score_sums', 'ClassScoreMeans', 'gbt_thresholds', 'ClassThresholds'
]


def class_score_sums(labels: Tensor, scores: Tensor,
                     num_classes: int) -> Tuple[Tensor, Tensor]:
    """Per-class number of detections and sum of their scores.

    This is what a distributed caller all-reduces (sum) before
    :meth:`ClassScoreMeans.update_from_sums`.

    Args:
        labels (Tensor): ``(M,)`` integer class of each detection. Labels
            outside ``[0, num_classes)`` (e.g. a background label) are
            ignored.
        scores (Tensor): ``(M,)`` score of each detection.
        num_classes (int): ``n``.

    Returns:
        tuple[Tensor, Tensor]: ``counts`` ``(n,)`` int64 and ``sums``
        ``(n,)`` float64, on the device of ``labels``.
    """
    labels = labels.detach().reshape(-1).long()
    scores = scores.detach().reshape(-1).to(device=labels.device,
                                            dtype=torch.float64)
    if labels.numel() != scores.numel():
        raise ValueError(f'labels and scores must have the same number of '
                         f'entries, got {labels.numel()} and '
                         f'{scores.numel()}')
    valid = (labels >= 0) & (labels < num_classes)
    index = torch.where(valid, labels, torch.zeros_like(labels))
    counts = torch.zeros(num_classes, dtype=torch.long, device=labels.device)
    counts.index_add_(0, index, valid.long())
    sums = torch.zeros(num_classes, dtype=torch.float64, device=labels.device)
    sums.index_add_(0, index,
                    torch.where(valid, scores, torch.zeros_like(scores)))
    return counts, sums


class ClassScoreMeans(nn.Module):
    """Per-class running mean of the teacher's detection scores.

    Semantics for one class c with ``count`` detections seen so far and
    mean ``m``, per single detection with score ``s``:

        count <- count + 1
        m <- m + (s - m) / count            if count <= exact_count (exact)
        m <- momentum * m + (1 - momentum) * s   otherwise          (EMA)

    so ``m`` is the exact arithmetic mean of the first ``exact_count``
    detections of the class and afterwards an EMA seeded by that mean.

    Batch update (:meth:`update_from_sums`). Detections arrive per iteration
    as per-class ``counts`` ``k`` and score ``sums`` ``S`` (possibly already
    summed over ranks). Within a batch, the ``k`` detections of a class are
    treated as ``k`` sequential updates each equal to the batch mean
    ``b = S / k``, which makes the update independent of the order of the
    detections and needs only ``(k, S)``:

        e  = min(k, max(exact_count - count, 0))       (exact part)
        m <- m + e / (count + e) * (b - m)              (exact mean)
        k' = k - e                                      (EMA part)
        m <- momentum**k' * m + (1 - momentum**k') * b
        count <- count + k

    A batch that straddles ``exact_count`` thus first completes the exact
    mean with ``e`` detections and then applies the EMA for the remaining
    ``k'``. While a class stays in the exact phase (``e = k``) this is
    exactly the arithmetic mean of all its detections (``e`` copies of ``b``
    add exactly ``S`` to the running sum). Beyond it, and for the ``e``
    exact detections of a straddling batch, the batch mean stands in for
    the individual scores; with at most one detection of a class per batch
    this is the per-detection update above. Classes with ``k = 0`` are
    unchanged. Everything is vectorised over classes (no loop).

    ``exact_count`` is treated as at least 1, so the first detection of a
    class always sets ``m`` to its score (no bias towards the zero initial
    value).

    State (saved in ``state_dict``): ``mean`` ``(n,)`` float64 and
    ``count`` ``(n,)`` int64.

    Args:
        num_classes (int): number of (foreground) classes ``n``.
        exact_count (int): detections per class averaged exactly.
        momentum (float): EMA factor per detection after that, in [0, 1).
    """

    def __init__(self,
                 num_classes: int,
                 exact_count: int = 1000,
                 momentum: float = 0.999) -> None:
        super().__init__()
        if int(num_classes) < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f'momentum must be in [0, 1), got {momentum}')
        if int(exact_count) < 0:
            raise ValueError(f'exact_count must be >= 0, got {exact_count}')
        self.num_classes = int(num_classes)
        self.exact_count = max(int(exact_count), 1)
        self.momentum = float(momentum)
        self.register_buffer(
            'mean', torch.zeros(self.num_classes, dtype=torch.float64))
        self.register_buffer('count',
                             torch.zeros(self.num_classes, dtype=torch.long))
        #: batches left out because a score sum was not finite
        self.register_buffer('num_skipped', torch.zeros((), dtype=torch.long))

    @property
    def seen(self) -> Tensor:
        """``(n,)`` bool: classes with at least one detection so far."""
        return self.count > 0

    def _check_vector(self, x: Tensor, name: str) -> Tensor:
        if not torch.is_tensor(x):
            x = torch.as_tensor(x)
        if x.dim() != 1 or x.numel() != self.num_classes:
            raise ValueError(f'{name} must have shape ({self.num_classes},), '
                             f'got {tuple(x.shape)}')
        return x.detach().to(self.mean.device)

    @torch.no_grad()
    def update_from_sums(self, counts: Tensor, sums: Tensor) -> Tensor:
        """Fold in one batch given per-class counts and score sums.

        See the class docstring for the semantics.

        Args:
            counts (Tensor): ``(n,)`` non-negative number of detections per
                class (integer, or a float tensor holding integers, e.g.
                after an ``all_reduce``; rounded).
            sums (Tensor): ``(n,)`` sum of their scores.

        A batch whose sums are not all finite (a diverging teacher) is left
        out as a whole and counted in ``num_skipped``; no device sync.

        Returns:
            Tensor: the updated ``mean`` buffer ``(n,)``.
        """
        k = self._check_vector(counts, 'counts')
        if k.is_floating_point():
            k = k.round()
        k = k.long()
        s = self._check_vector(sums, 'sums').to(self.mean.dtype)
        finite = torch.isfinite(s).all()
        self.num_skipped.add_((~finite).long())
        k = torch.where(finite, k, torch.zeros_like(k))
        s = torch.where(finite, s, torch.zeros_like(s))
        present = k > 0
        kf = k.to(self.mean.dtype)
        b = s / kf.clamp(min=1.0)  # batch mean; 0 for absent classes
        m = self.mean
        # exact part
        e = torch.minimum(k, (self.exact_count - self.count).clamp(min=0))
        n_e = self.count + e
        frac = e.to(m.dtype) / n_e.clamp(min=1).to(m.dtype)
        m_exact = torch.lerp(m, b, frac)
        # EMA part
        w = torch.pow(m.new_tensor(self.momentum), (k - e).to(m.dtype))
        m_new = w * m_exact + (1.0 - w) * b
        self.mean.copy_(torch.where(present, m_new, m))
        self.count.add_(k.clamp(min=0))
        return self.mean

    @torch.no_grad()
    def update(self, labels: Tensor, scores: Tensor) -> Tensor:
        """Fold in one batch of detections.

        Equivalent to :meth:`update_from_sums` on
        :func:`class_score_sums` ``(labels, scores)``.

        Args:
            labels (Tensor): ``(M,)`` integer classes; labels outside
                ``[0, n)`` are ignored.
            scores (Tensor): ``(M,)`` scores.

        Returns:
            Tensor: the updated ``mean`` buffer ``(n,)``.
        """
        counts, sums = class_score_sums(labels.to(self.mean.device), scores,
                                        self.num_classes)
        return self.update_from_sums(counts, sums)

    def reset(self) -> None:
        """Forget everything (zero means and counts)."""
        self.mean.zero_()
        self.count.zero_()
        self.num_skipped.zero_()

    def _load_from_state_dict(self, state_dict, prefix, *args) -> None:
        # checkpoints from before the counter: it starts at 0
        state_dict.setdefault(prefix + 'num_skipped',
                              torch.zeros((), dtype=torch.long))
        super()._load_from_state_dict(state_dict, prefix, *args)

    def extra_repr(self) -> str:
        return (f'num_classes={self.num_classes}, '
                f'exact_count={self.exact_count}, momentum={self.momentum}')


def _check_taus(tau: float, tau_min: float) -> None:
    if not 0.0 <= float(tau_min) <= float(tau):
        raise ValueError(f'need 0 <= tau_min <= tau, got tau_min={tau_min}, '
                         f'tau={tau}')


def gbt_thresholds(mean_scores: Tensor,
                   seen: Tensor,
                   class_weights: Optional[Tensor] = None,
                   tau: float = 0.9,
                   tau_min: float = 0.5,
                   use_score_term: bool = True,
                   use_weight_term: bool = True,
                   unseen_classes: str = 'floor',
                   floor_min: Optional[float] = None) -> Tensor:
    """Class-wise pseudo-label thresholds of GbT.

        theta_c = clip( min( tau * m_c / mbar,  tau / w_c ),  floor_c, tau )

    with ``floor_c = tau_min`` (the reference) or, with ``floor_min``, the
    class-adaptive floor ``floor_c = max(floor_min, tau_min * min(1, m_c /
    mbar))``.

    Decisions:

    * ``unseen_classes='floor'`` (the reference): a class without detections
      has ``m_c = 0``, ``mbar`` is the mean of ``m_c`` over *all* ``n``
      classes, so an unseen class gets the floor. ``unseen_classes='tau'``:
      ``mbar`` is the mean over the *seen* classes only and an unseen class
      has ratio 1 (score term ``tau``).
    * If no class is seen, or ``mbar <= 0``, the score term is ``tau`` for
      every class (the reference would divide by zero).
    * ``floor_min`` (an option, not in the reference): a class the teacher
      scores lower than the average class may go below ``tau_min``, down to
      ``floor_min``; its detections need ``pseudo_label_initial_score_thr
      <= floor_min`` to reach the classification loss at all.
    * A switched-off term (``use_score_term`` / ``use_weight_term`` False,
      or ``class_weights`` None) is left out of the min; with both off,
      ``theta_c = tau`` for every class.
    * Computed in float64; returned in the dtype of ``mean_scores`` (if
      floating, else float32), detached.

    Args:
        mean_scores (Tensor): ``(n,)`` running mean teacher score ``m_c``.
        seen (Tensor): ``(n,)`` bool, classes with ``m_c`` defined.
        class_weights (Tensor, optional): ``(n,)`` positive foreground GbR
            class weights ``w_c`` (already clamped; background entry
            removed).
        tau (float): ``cls_pseudo_thr``, the upper bound.
        tau_min (float): ``pseudo_label_initial_score_thr``, the lower
            bound; ``0 <= tau_min <= tau``.
        use_score_term (bool): include ``tau * m_c / mbar``.
        use_weight_term (bool): include ``tau / w_c``.
        unseen_classes (str): ``'floor'`` (reference) or ``'tau'``.
        floor_min (float, optional): lowest class-adaptive floor,
            ``0 <= floor_min <= tau_min``; None keeps the fixed floor
            ``tau_min``.

    Returns:
        Tensor: ``(n,)`` thresholds in ``[floor_min or tau_min, tau]``.
    """
    _check_taus(tau, tau_min)
    _check_unseen(unseen_classes)
    _check_floor_min(floor_min, tau_min)
    if not torch.is_tensor(mean_scores) or mean_scores.dim() != 1:
        raise ValueError('mean_scores must be a 1-D tensor (n,), got '
                         f'{getattr(mean_scores, "shape", mean_scores)}')
    n = mean_scores.numel()
    if not torch.is_tensor(seen) or tuple(seen.shape) != (n, ):
        raise ValueError(f'seen must have shape ({n},), got '
                         f'{tuple(getattr(seen, "shape", ()))}')
    out_dtype = (mean_scores.dtype
                 if mean_scores.is_floating_point() else torch.float32)
    m = mean_scores.detach().to(torch.float64)
    ratio = _score_ratio(m, seen, unseen_classes)
    theta = torch.full_like(m, float(tau))
    if use_score_term:
        theta = torch.minimum(theta, float(tau) * ratio)
    if use_weight_term and class_weights is not None:
        theta = torch.minimum(theta,
                              _weight_term(class_weights, n, float(tau), m))
    if floor_min is None:
        floor = torch.full_like(m, float(tau_min))
    else:
        floor = (float(tau_min) * ratio.clamp(max=1.0)).clamp(
            min=float(floor_min))
    return torch.maximum(theta, floor).clamp(max=float(tau)).to(out_dtype)


UNSEEN_CLASSES = ('floor', 'tau')


def _check_unseen(unseen_classes: str) -> None:
    if unseen_classes not in UNSEEN_CLASSES:
        raise ValueError(f'unseen_classes must be one of {UNSEEN_CLASSES}, '
                         f'got {unseen_classes!r}')


def _check_floor_min(floor_min: Optional[float], tau_min: float) -> None:
    if floor_min is not None and not 0.0 <= float(floor_min) <= float(
            tau_min):
        raise ValueError(f'need 0 <= floor_min <= tau_min, got floor_min='
                         f'{floor_min}, tau_min={tau_min}')


def _score_ratio(m: Tensor, seen: Tensor, unseen_classes: str) -> Tensor:
    """``m_c / mbar`` per class (float64), see :func:`gbt_thresholds`.

    ``'floor'``: unseen classes count as ``m_c = 0`` in ``mbar`` and get
    ratio 0. ``'tau'``: ``mbar`` over seen classes, ratio 1 when unseen.
    Ratio 1 everywhere when ``mbar <= 0`` (nothing seen yet).
    """
    seen = seen.detach().to(device=m.device, dtype=torch.bool)
    m_seen = torch.where(seen, m, torch.zeros_like(m))
    if unseen_classes == 'floor':
        mbar = m_seen.mean()
        fallback = torch.zeros_like(m)
    else:
        mbar = m_seen.sum() / seen.sum().clamp(min=1)
        fallback = torch.ones_like(m)
    if not bool(mbar > 0):
        return torch.ones_like(m)
    return torch.where(seen, m / mbar, fallback)


def _weight_term(class_weights: Tensor, n: int, tau: float,
                 like: Tensor) -> Tensor:
    """``tau / w_c`` (float64), after checking shape and positivity."""
    if not torch.is_tensor(class_weights) or tuple(
            class_weights.shape) != (n, ):
        raise ValueError(
            f'class_weights must have shape ({n},) (foreground classes '
            f'only: drop the background entry of the GbR weights), got '
            f'{tuple(getattr(class_weights, "shape", ()))}')
    w = class_weights.detach().to(device=like.device, dtype=torch.float64)
    if not bool((w > 0).all()):
        raise ValueError(f'class_weights must be positive, got {w.tolist()}')
    return tau / w


class ClassThresholds(nn.Module):
    """All GbT state: the running class score means and the configuration.

    ``state_dict`` holds only ``score_means.mean``, ``score_means.count``
    and ``score_means.num_skipped`` (the configuration comes from the
    config), so checkpoints resume the running means exactly.

    Args:
        num_classes (int): number of foreground classes ``n``.
        tau (float): ``cls_pseudo_thr`` (upper bound of the thresholds).
        tau_min (float): ``pseudo_label_initial_score_thr`` (lower bound).
        use_score_term (bool): include ``tau * m_c / mean_c(m_c)``.
        use_weight_term (bool): include ``tau / w_c``.
        exact_count (int): detections per class averaged exactly.
        momentum (float): EMA factor per detection afterwards.
        unseen_classes (str): ``'floor'`` (reference: an undetected class
            has ``m_c = 0``) or ``'tau'``; see :func:`gbt_thresholds`.
        floor_min (float, optional): class-adaptive floor (an option);
            None keeps the reference's fixed floor ``tau_min``.
    """

    def __init__(self,
                 num_classes: int,
                 tau: float = 0.9,
                 tau_min: float = 0.5,
                 use_score_term: bool = True,
                 use_weight_term: bool = True,
                 exact_count: int = 1000,
                 momentum: float = 0.999,
                 unseen_classes: str = 'floor',
                 floor_min: Optional[float] = None) -> None:
        super().__init__()
        _check_taus(tau, tau_min)
        _check_unseen(unseen_classes)
        _check_floor_min(floor_min, tau_min)
        self.tau = float(tau)
        self.tau_min = float(tau_min)
        self.use_score_term = bool(use_score_term)
        self.use_weight_term = bool(use_weight_term)
        self.unseen_classes = unseen_classes
        self.floor_min = None if floor_min is None else float(floor_min)
        self.score_means = ClassScoreMeans(num_classes, exact_count, momentum)

    @property
    def num_classes(self) -> int:
        return self.score_means.num_classes

    def update(self, labels: Tensor, scores: Tensor) -> Tensor:
        """:meth:`ClassScoreMeans.update` (labels ``(M,)``, scores
        ``(M,)``)."""
        return self.score_means.update(labels, scores)

    def update_from_sums(self, counts: Tensor, sums: Tensor) -> Tensor:
        """:meth:`ClassScoreMeans.update_from_sums` (``(n,)``, ``(n,)``)."""
        return self.score_means.update_from_sums(counts, sums)

    def thresholds(self,
                   class_weights: Optional[Tensor] = None,
                   dtype: torch.dtype = torch.float32) -> Tensor:
        """Current thresholds ``theta_c`` (:func:`gbt_thresholds`).

        Args:
            class_weights (Tensor, optional): ``(n,)`` foreground GbR class
                weights; the weight term is skipped when None.
            dtype (torch.dtype): output dtype. float32 by default, so that
                comparing float32 scores against ``theta_c = tau`` behaves
                like Soft Teacher's comparison with the scalar ``tau``.

        Returns:
            Tensor: ``(n,)`` on the device of the buffers.
        """
        theta = gbt_thresholds(self.score_means.mean,
                               self.score_means.seen,
                               class_weights,
                               tau=self.tau,
                               tau_min=self.tau_min,
                               use_score_term=self.use_score_term,
                               use_weight_term=self.use_weight_term,
                               unseen_classes=self.unseen_classes,
                               floor_min=self.floor_min)
        return theta.to(dtype)

    @property
    def lowest_threshold(self) -> float:
        """The lowest threshold any class can get (its floor)."""
        return self.tau_min if self.floor_min is None else self.floor_min

    def extra_repr(self) -> str:
        return (f'tau={self.tau}, tau_min={self.tau_min}, '
                f'use_score_term={self.use_score_term}, '
                f'use_weight_term={self.use_weight_term}, '
                f'unseen_classes={self.unseen_classes!r}, '
                f'floor_min={self.floor_min}')
