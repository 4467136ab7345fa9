"""Scale a reference training schedule to another dataset and GPU count.

A schedule is set by how often the images are seen, not by its iteration
count: the reference runs see their unlabeled images (semi-supervised) or
labeled images (supervised burn-in) a certain number of times. For a
custom dataset, every iteration-valued setting (length, warm-ups, CrS
update interval, validation and checkpoint intervals, learning-rate steps)
is multiplied by

    factor = (images / images_ref) * (images_per_iter_ref / images_per_iter)

where ``images_per_iter = gpus * images per GPU`` of the source that sets
the schedule. A semi-supervised schedule has two sources (unlabeled and
labeled images): it takes the larger factor, so that a small unlabeled set
does not shorten the training below what its labeled set needs. The
learning-rate warm-up is the exception: it is about the optimiser's
stability, not the data, so it keeps its length in iterations (at most a
fifth of the run). Fractions of the schedule are kept otherwise: e.g. the
reference COCO CISSOD run's GbR warm-up is 8k of 180k iterations (4.4%),
and so is the scaled one.
"""
from dataclasses import asdict, dataclass, replace
from typing import Dict, Optional, Tuple

__all__ = ['ReferenceSchedule', 'scale_schedule', 'schedule_factor']

#: The learning-rate warm-up is at most this fraction of the run.
LR_WARMUP_MAX_FRACTION = 0.2


@dataclass(frozen=True)
class ReferenceSchedule:
    """A schedule with what it was made for.

    Attributes:
        images: Images of the source that sets the schedule (unlabeled for
            the semi-supervised stage, labeled for the burn-in).
        images_per_iter: Of that source, over all GPUs.
        max_iters: Length.
        val_interval: Iterations between evaluations.
        checkpoint_interval: Iterations between checkpoints.
        gbr_warmup_iters: GbR warm-up (semi-supervised only, else 0).
        ssod_warmup_iters: GbT / CrS pool warm-up (semi-supervised only).
        crs_interval: Iterations between CrS updates (semi-supervised only).
        lr_warmup_iters: Linear learning-rate warm-up.
        lr_steps: Iterations of the x0.1 learning-rate steps.
        labeled_images: Labeled images of a semi-supervised schedule (0:
            one source only).
        labeled_per_iter: Labeled images per iteration, over all GPUs.
    """
    images: int
    images_per_iter: int
    max_iters: int
    val_interval: int
    checkpoint_interval: int
    gbr_warmup_iters: int = 0
    ssod_warmup_iters: int = 0
    crs_interval: int = 0
    lr_warmup_iters: int = 0
    lr_steps: Tuple[int, ...] = ()
    labeled_images: int = 0
    labeled_per_iter: int = 0

    def as_dict(self) -> Dict[str, object]:
        return asdict(self)


def schedule_factor(ref: ReferenceSchedule, images: int,
                    images_per_iter: int) -> float:
    """``(images / ref.images) * (ref.images_per_iter / images_per_iter)``."""
    if images <= 0 or images_per_iter <= 0:
        raise ValueError(f'images ({images}) and images_per_iter '
                         f'({images_per_iter}) must be positive')
    return (images / ref.images) * (ref.images_per_iter / images_per_iter)


def scale_schedule(ref: ReferenceSchedule,
                   images: int,
                   images_per_iter: int,
                   max_iters: Optional[int] = None,
                   labeled_images: int = 0,
                   labeled_per_iter: int = 0) -> ReferenceSchedule:
    """The reference schedule scaled to ``images`` seen ``images_per_iter``
    at a time.

    Args:
        ref: The reference schedule.
        images: Images of the custom dataset's schedule-setting source.
        images_per_iter: Of that source per iteration, over all GPUs.
        max_iters: Fix the length instead (e.g. a short CPU run); every
            other setting keeps its fraction of the length.
        labeled_images: Labeled images of a semi-supervised schedule (used
            when ``ref.labeled_images`` is set).
        labeled_per_iter: Labeled images per iteration, over all GPUs.

    Returns:
        ReferenceSchedule: with ``images`` / ``images_per_iter`` of the
        custom dataset and every iteration setting scaled (at least 1;
        intervals at most the length).
    """
    if max_iters is None:
        factor = schedule_factor(ref, images, images_per_iter)
        if ref.labeled_images and labeled_images:
            factor = max(factor, (labeled_images / ref.labeled_images) *
                         (ref.labeled_per_iter / labeled_per_iter))
        length = max(1, round(ref.max_iters * factor))
    else:
        if max_iters < 1:
            raise ValueError(f'max_iters must be >= 1, got {max_iters}')
        length = int(max_iters)
    frac = length / ref.max_iters

    def iters(value: int, cap: bool = True) -> int:
        if value <= 0:
            return 0
        scaled = max(1, round(value * frac))
        return min(scaled, length) if cap else scaled

    return replace(
        ref,
        images=images,
        images_per_iter=images_per_iter,
        labeled_images=labeled_images if ref.labeled_images else 0,
        labeled_per_iter=labeled_per_iter if ref.labeled_images else 0,
        max_iters=length,
        val_interval=iters(ref.val_interval),
        checkpoint_interval=iters(ref.checkpoint_interval),
        gbr_warmup_iters=iters(ref.gbr_warmup_iters),
        ssod_warmup_iters=iters(ref.ssod_warmup_iters),
        crs_interval=iters(ref.crs_interval),
        lr_warmup_iters=min(ref.lr_warmup_iters,
                            max(1, round(LR_WARMUP_MAX_FRACTION * length)))
        if ref.lr_warmup_iters > 0 else 0,
        # a step at or past the end (the COCO reference's 180k) stays there
        lr_steps=tuple(iters(s, cap=False) for s in ref.lr_steps))
