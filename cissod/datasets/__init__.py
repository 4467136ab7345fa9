"""Datasets of cissod: the embedded demo data and CI-SSOD split builders."""
from .demo import (DEMO_CLASSES, MAJORITY_CLASSES, MINORITY_CLASSES,
                   ensure_demo_data, generate_demo_dataset)
from .splits import build_ci_ssod_split, format_split_stats
from . import samplers  # noqa: F401

__all__ = [
    'DEMO_CLASSES', 'MAJORITY_CLASSES', 'MINORITY_CLASSES',
    'ensure_demo_data', 'generate_demo_dataset', 'build_ci_ssod_split',
    'format_split_stats'
]
