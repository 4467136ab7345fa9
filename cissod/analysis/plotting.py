"""Small figures (Agg backend) and the CSV / JSON writers of the scripts."""
import csv
import json
import math
from typing import Any, Dict, Iterable, List, Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ['plt', 'new_figure', 'save_figure', 'write_csv', 'write_json',
           'bar_groups']

#: inches; with DPI this keeps PNGs well below 100 KB
DPI = 90


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 5.0,
               height: float = 3.0):
    """A figure with ``nrows x ncols`` axes (always a flat list)."""
    fig, axes = plt.subplots(nrows, ncols,
                             figsize=(width * ncols, height * nrows),
                             squeeze=False)
    return fig, [ax for row in axes for ax in row]


def save_figure(fig, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json(path: str, data: Any) -> str:
    """JSON with NaN / inf written as null."""
    with open(path, 'w') as f:
        json.dump(_clean(data), f, indent=1)
    return path


def write_csv(path: str, rows: Iterable[Dict[str, Any]],
              fields: Sequence[str]) -> str:
    """CSV with a header; None is written as an empty cell."""
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(fields))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ('' if row.get(k) is None else row.get(k))
                             for k in fields})
    return path


def bar_groups(ax, labels: Sequence[str], series: Dict[str, List],
               ylabel: str = '', title: str = '') -> None:
    """Grouped bars: one group per label, one bar per series (None = no
    bar)."""
    n = max(len(series), 1)
    width = 0.8 / n
    for k, (name, values) in enumerate(series.items()):
        xs = [i + (k - (n - 1) / 2) * width for i in range(len(labels))]
        ys = [float('nan') if v is None else v for v in values]
        ax.bar(xs, ys, width=width, label=name)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=35, ha='right', fontsize=7)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    if len(series) > 1:
        ax.legend(fontsize=7, ncol=len(series), loc='upper center')
