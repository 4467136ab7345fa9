"""Split construction utilities (pure python/numpy, no mmdet import)."""
from .ci_ssod import build_ci_ssod_split, format_split_stats

__all__ = ['build_ci_ssod_split', 'format_split_stats']
