"""Repeat-factor sampling (RFS) image factors, vectorised (pure torch).

For a dataset of N images and a threshold t (LVIS's RFS, as computed by
mmengine's ``ClassBalancedDataset._get_repeat_factors``):

    f_c  = (number of images containing class c) / N
    r_c  = max(1, sqrt(t / f_c))
    r(I) = max over the classes c of image I of r_c;   1 if I has no class

The (image, class) pairs are deduplicated and counted with tensor ops; the
C per-class factors use the same Python float operations as mmengine (one
division for f_c, one for t / f_c, ``math.sqrt``), so the factors are
bit-identical to mmengine's.

CrS's class factors (:func:`~.class_rebalancing.crs_class_factors`) are the
same formula with ``lam`` for t and the labeled + pseudo-labelled images
for f_c, computed vectorised in torch; they are kept separate on purpose:
one shared implementation would change either these factors (no longer
bit-identical to mmengine) or the CrS factors in the last bit.
"""
import math
from typing import Sequence

import torch
from torch import Tensor

__all__ = ['rfs_image_factors', 'class_image_counts']


def _image_class_pairs(image_class_ids: Sequence[Sequence[int]]):
    """Unique (image, dense class) pairs of a ragged list of class ids.

    Returns:
        tuple[Tensor, Tensor, int]: image indices (P,), dense class indices
        (P,) (int64, each pair once) and the number of distinct classes.
    """
    lengths = torch.tensor([len(ids) for ids in image_class_ids],
                           dtype=torch.long)
    flat = [int(c) for ids in image_class_ids for c in ids]
    if not flat:
        empty = torch.empty(0, dtype=torch.long)
        return empty, empty, 0
    classes, dense = torch.unique(
        torch.tensor(flat, dtype=torch.long), return_inverse=True)
    images = torch.repeat_interleave(
        torch.arange(len(image_class_ids)), lengths)
    num_classes = len(classes)
    pairs = torch.unique(images * num_classes + dense)
    return pairs // num_classes, pairs % num_classes, num_classes


def _class_factor(freq: float, threshold: float) -> float:
    """r_c = max(1, sqrt(t / f_c)) in Python floats, as mmengine computes it.

    The C class factors are computed with ``math.sqrt``: torch's vectorised
    float64 ``sqrt`` on the CPU is not always correctly rounded (it differs
    from ``math.sqrt`` in the last bit for some inputs, e.g. 26.0333...).
    """
    return max(1.0, math.sqrt(threshold / freq))


def rfs_image_factors(image_class_ids: Sequence[Sequence[int]],
                      threshold: float) -> Tensor:
    """Per-image repeat factors of repeat-factor sampling (module docstring).

    Args:
        image_class_ids (Sequence[Sequence[int]]): the class (category) ids
            of every image's instances, e.g. ``dataset.get_cat_ids(i)`` for
            i in range(N); repeated ids and empty lists are allowed.
        threshold (float): t >= 0, the class frequency below which images are
            repeated (0.1 COCO, 0.02 COCO->O365, 0.01 LVIS).

    Returns:
        Tensor: r(I), shape (N,), float64, every entry >= 1.
    """
    if not threshold >= 0:
        raise ValueError(f'threshold must be >= 0, got {threshold}')
    num_images = len(image_class_ids)
    factors = torch.ones(num_images, dtype=torch.float64)
    images, classes, num_classes = _image_class_pairs(image_class_ids)
    if num_classes == 0:
        return factors
    counts = torch.bincount(classes, minlength=num_classes).tolist()
    class_factor = torch.tensor(
        [_class_factor(c / num_images, threshold) for c in counts],
        dtype=torch.float64)
    return factors.scatter_reduce(
        0, images, class_factor[classes], reduce='amax', include_self=True)


def class_image_counts(image_class_ids: Sequence[Sequence[int]],
                       num_classes: int) -> Tensor:
    """Number of images containing each class (each image counted once).

    Args:
        image_class_ids (Sequence[Sequence[int]]): class indices in
            ``[0, num_classes)`` of every image's instances (repeats and
            empty lists allowed), e.g. ``dataset.get_cat_ids(i)``.
        num_classes (int): n.

    Returns:
        Tensor: ``(n,)`` int64 counts.
    """
    counts = torch.zeros(num_classes, dtype=torch.long)
    for ids in image_class_ids:
        classes = sorted(set(int(c) for c in ids))
        if classes and not (0 <= classes[0] and classes[-1] < num_classes):
            raise ValueError(f'class ids {classes} are not all in '
                             f'[0, {num_classes})')
        counts[classes] += 1
    return counts
