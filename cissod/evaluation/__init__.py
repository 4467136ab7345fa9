"""Evaluation components of cissod (metrics registered into mmdet's
``METRICS`` registry on import)."""
from .metrics import GroupCocoMetric, summarize_ap  # noqa: F401

__all__ = ['GroupCocoMetric', 'summarize_ap']
