"""Embedded synthetic demo dataset (numpy + Pillow; no mmdet / mmengine)."""
from .synthetic_shapes import (
                               DEMO_CLASSES,
                               DEMO_METAINFO,
                               DEMO_PALETTE,
                               GENERATOR_VERSION,
                               MAJORITY_CLASSES,
                               MINORITY_CLASSES,
                               ensure_demo_data,
                               format_demo_stats,
                               generate_demo_dataset,
                               is_demo_data_up_to_date,
                               load_demo_meta,
)

__all__ = [
    'DEMO_CLASSES', 'MAJORITY_CLASSES', 'MINORITY_CLASSES', 'DEMO_PALETTE',
    'DEMO_METAINFO', 'GENERATOR_VERSION', 'generate_demo_dataset',
    'ensure_demo_data', 'is_demo_data_up_to_date', 'load_demo_meta',
    'format_demo_stats'
]
