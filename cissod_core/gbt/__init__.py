"""Gradient-based thresholding (GbT): pure torch, no mmdet / mmengine.

* :mod:`.class_thresholds` - per-class running mean of the teacher's
  detection scores (:class:`ClassScoreMeans`), the class-wise pseudo-label
  thresholds (:func:`gbt_thresholds`) and :class:`ClassThresholds`, the
  stateful module the mmdet glue uses.
"""
from .class_thresholds import (
                               ClassScoreMeans,
                               ClassThresholds,
                               class_score_sums,
                               gbt_thresholds,
)

__all__ = [
    'ClassScoreMeans', 'ClassThresholds', 'class_score_sums', 'gbt_thresholds'
]
