"""Detection-evaluation arithmetic with numpy only: AP / AR summaries of
accumulated precision and recall arrays over any subset of categories, the
per-image detection limit of the LVIS protocol, and synthetic COCO- / LVIS-
shaped evaluation data (benchmarks, fixtures)."""
from .ap_summary import (
                         AP_ITEMS,
                         SummaryItem,
                         limit_dets_per_image,
                         mean_valid,
                         summarize_precision,
                         summarize_recall,
                         summary_items,
)
from .synthetic import make_detection_set

__all__ = [
    'AP_ITEMS', 'SummaryItem', 'limit_dets_per_image', 'make_detection_set',
    'mean_valid', 'summarize_precision', 'summarize_recall', 'summary_items'
]
