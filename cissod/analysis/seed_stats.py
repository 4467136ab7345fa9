"""Mean +- std over seeds of the demo comparison (``tools/compare_demo.py``).

Pure Python: takes the metrics dicts written by ``tools/test.py``, the
``pseudo_label_counts`` of the checkpoints and, optionally, the results of
``tools/analysis/pseudo_label_quality.py``, and formats markdown tables.
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = ['RunResult', 'mean_std', 'format_seed_tables']

#: (column, metric key of GroupCocoMetric)
GROUPS = (('AP', 'coco/bbox_mAP'), ('AP maj', 'coco/bbox_majority_mAP'),
          ('AP min', 'coco/bbox_minority_mAP'))
CLASS_AP = 'coco/bbox_AP_'


@dataclass
class RunResult:
    """One row of the comparison: a method's runs, one per seed.

    Attributes:
        name (str): row label.
        metrics (list[dict]): per seed, the metrics of ``tools/test.py``.
        counts (list[list[int] | None]): per seed, kept pseudo labels per
            class over the run (None for a supervised run).
        quality (list[dict] | None): per seed, the result of
            ``pseudo_label_quality.run`` (``groups`` and ``per_class``
            precision / recall of the final teacher's pseudo labels).
    """
    name: str
    metrics: List[Dict[str, float]]
    counts: List[Optional[List[int]]]
    quality: Optional[List[dict]] = None


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    vals = [float(v) for v in values]
    if not vals:
        return math.nan, math.nan
    mean = sum(vals) / len(vals)
    if len(vals) < 2:
        return mean, 0.0
    var = sum((v - mean)**2 for v in vals) / (len(vals) - 1)
    return mean, math.sqrt(var)


def _cell(values: Sequence[Optional[float]], scale: float = 100.0,
          digits: int = 1) -> str:
    vals = [v for v in values if v is not None and v >= 0]
    if not vals:
        return 'n/a'
    mean, std = mean_std([scale * v for v in vals])
    if len(vals) == 1:
        return f'{mean:.{digits}f}'
    return f'{mean:.{digits}f} +- {std:.{digits}f}'


def _classes(results: Sequence[RunResult]) -> List[str]:
    first = results[0].metrics[0]
    return [k[len(CLASS_AP):] for k in first if k.startswith(CLASS_AP)]


def format_seed_tables(results: Sequence[RunResult],
                       seeds: Sequence[int]) -> str:
    """Markdown: AP groups (mean +- std), per-class AP, pseudo labels per
    class and, when measured, pseudo-label precision / recall."""
    n_seeds = len(seeds)
    seed_txt = ', '.join(str(s) for s in seeds)
    lines = [f'AP (teacher, x100), mean +- std over {n_seeds} seed(s) '
             f'({seed_txt})', '',
             '| method | ' + ' | '.join(g for g, _ in GROUPS) + ' |',
             '|---|' + '---:|' * len(GROUPS)]
    for r in results:
        cells = [_cell([m.get(key) for m in r.metrics]) for _, key in GROUPS]
        lines.append(f'| {r.name} | ' + ' | '.join(cells) + ' |')
    classes = _classes(results)
    with_counts = [r for r in results if any(c is not None for c in r.counts)]
    header = [f'{r.name} AP' for r in results] + [
        f'{r.name} pseudo labels' for r in with_counts]
    lines += ['', 'Per-class AP (x100, mean +- std) and pseudo labels kept '
              'per class over the run (mean over seeds)', '',
              '| class | ' + ' | '.join(header) + ' |']
    lines.append('|---|' + '---:|' * (len(results) + len(with_counts)))
    for i, cls in enumerate(classes):
        ap = [_cell([m.get(CLASS_AP + cls) for m in r.metrics])
              for r in results]
        pl = [_cell([c[i] for c in r.counts if c is not None], scale=1.0,
                    digits=0) for r in with_counts]
        lines.append(f'| {cls} | ' + ' | '.join(ap + pl) + ' |')
    with_quality = [r for r in results if r.quality]
    if with_quality:
        lines += ['', 'Pseudo labels of the final teacher on the unlabeled '
                  'images vs their true boxes (IoU >= 0.5): precision / '
                  'recall (x100, mean +- std) and count (mean)', '',
                  '| method | group | pseudo labels | precision | recall |',
                  '|---|---|---:|---:|---:|']
        for r in with_quality:
            for group in r.quality[0]['groups']:
                stats = [q['groups'][group] for q in r.quality]
                lines.append(
                    f'| {r.name} | {group} | '
                    f'{_cell([s["num_pseudo"] for s in stats], 1.0, 0)} | '
                    f'{_cell([s["precision"] for s in stats])} | '
                    f'{_cell([s["recall"] for s in stats])} |')
        lines += ['', '| method | class | pseudo labels | precision |',
                  '|---|---|---:|---:|']
        for r in with_quality:
            for j, row in enumerate(r.quality[0]['per_class']):
                if row['group'] != 'minority':
                    continue
                rows = [q['per_class'][j] for q in r.quality]
                lines.append(
                    f'| {r.name} | {row["class"]} | '
                    f'{_cell([x["num_pseudo"] for x in rows], 1.0, 0)} | '
                    f'{_cell([x["precision"] for x in rows])} |')
    return '\n'.join(lines)
