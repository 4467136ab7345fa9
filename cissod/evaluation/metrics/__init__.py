"""Metrics of cissod."""
from .group_coco_metric import GroupCocoMetric, summarize_ap  # noqa: F401

__all__ = ['GroupCocoMetric', 'summarize_ap']
