"""Class groups and the labeled RFS threshold from a labeled class table.

Two documented rules, used by ``tools/prepare_custom_dataset.py`` (both can
be overridden there):

* :func:`split_majority_minority`: the majority classes are the most
  frequent classes (by labeled boxes) that together hold ``majority_share``
  of the labeled boxes; every other class is a minority class. With the
  default 0.9 the CPU demo's labeled set gives its 5 majority / 3 minority
  classes.
* :func:`rfs_threshold_for`: the repeat-factor-sampling threshold ``t`` is
  the smallest labeled image frequency among the majority classes. RFS
  repeats an image by ``max(1, sqrt(t / f_c))`` over its classes, so exactly
  the classes rarer than every majority class are repeated.
"""
from typing import List, Mapping, Sequence, Tuple

__all__ = ['split_majority_minority', 'rfs_threshold_for']


def split_majority_minority(
        box_counts: Mapping[str, int],
        majority_share: float = 0.9) -> Tuple[List[str], List[str]]:
    """``(majority, minority)`` class names, most frequent first.

    Args:
        box_counts: class name -> number of labeled boxes.
        majority_share: Fraction of all labeled boxes the majority classes
            hold together, in (0, 1]. Ties in the count are broken by name.

    Returns:
        The majority classes (at least one) and the minority classes, both
        sorted by box count (most first).
    """
    if not 0 < majority_share <= 1:
        raise ValueError(
            f'majority_share must be in (0, 1], got {majority_share}')
    if not box_counts:
        raise ValueError('box_counts is empty: no classes')
    ranked = sorted(box_counts, key=lambda c: (-box_counts[c], c))
    total = sum(box_counts.values())
    majority: List[str] = []
    held = 0
    for name in ranked:
        if majority and held >= majority_share * total:
            break
        majority.append(name)
        held += box_counts[name]
    return majority, ranked[len(majority):]


def rfs_threshold_for(image_frequency: Mapping[str, float],
                      majority: Sequence[str]) -> float:
    """The labeled RFS threshold: the smallest majority-class frequency.

    Args:
        image_frequency: class name -> fraction of labeled images that hold
            the class, in [0, 1].
        majority: The majority class names.

    Returns:
        float: ``min(f_c for c in majority)``.
    """
    if not majority:
        raise ValueError('no majority class')
    unknown = [c for c in majority if c not in image_frequency]
    if unknown:
        raise ValueError(f'majority classes {unknown} have no frequency')
    return float(min(image_frequency[c] for c in majority))
