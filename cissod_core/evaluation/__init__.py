"""Detection-evaluation arithmetic with numpy only: AP / AR summaries of
accumulated precision and recall arrays over any subset of categories, and
the per-image detection limit of the LVIS protocol."""
from .ap_summary import (AP_ITEMS, SummaryItem, limit_dets_per_image,
                         mean_valid, summarize_precision, summarize_recall,
                         summary_items)

__all__ = [
    'AP_ITEMS', 'SummaryItem', 'limit_dets_per_image', 'mean_valid',
    'summarize_precision', 'summarize_recall', 'summary_items'
]
