"""Mean +- std over seeds of the demo comparison (``tools/compare_demo.py``).

Pure Python: takes the metrics dicts written by ``tools/test.py``, the
``pseudo_label_counts`` of the checkpoints and, optionally, the results of
``tools/analysis/pseudo_label_quality.py``, and formats markdown tables.
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = [
    'RunResult', 'mean_std', 'format_seed_tables', 'format_paired_table',
    'paired_interval', 't_quantile_975'
]

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


#: two-sided 95 % Student t quantiles t_{0.975, df}, df = 1..10
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262,
         2.228)


def t_quantile_975(df: int) -> float:
    """``t_{0.975}`` with ``df`` degrees of freedom (table up to 10, then
    the Cornish-Fisher expansion around the normal 1.960: error < 1e-3)."""
    if df < 1:
        raise ValueError(f'df must be >= 1, got {df}')
    if df <= len(T_975):
        return T_975[df - 1]
    z = 1.959964
    return (z + (z**3 + z) / (4 * df) +
            (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2) +
            (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))


def paired_interval(diffs: Sequence[float]) -> Tuple[float, float, float]:
    """Mean of per-seed differences and its 95 % t-interval (lo, hi);
    (mean, nan, nan) for a single seed."""
    mean, std = mean_std(diffs)
    if len(diffs) < 2:
        return mean, math.nan, math.nan
    half = t_quantile_975(len(diffs) - 1) * std / math.sqrt(len(diffs))
    return mean, mean - half, mean + half


def format_paired_table(results: Sequence[RunResult],
                        pairs: Sequence[Tuple[str, str]],
                        seeds: Sequence[int]) -> str:
    """Markdown: per pair (a, b) of row names, the per-seed difference
    a - b of each AP group (x100), its mean and 95 % t-interval."""
    by_name = {r.name: r for r in results}
    lines = ['Paired difference per seed (teacher AP x100; seeds '
             f'{", ".join(map(str, seeds))}), mean and 95 % t-interval', '',
             '| difference | group | per seed | mean | 95 % interval |',
             '|---|---|---|---:|---|']
    for a, b in pairs:
        if a not in by_name or b not in by_name:
            continue
        for group, key in GROUPS:
            diffs = [100 * (ma[key] - mb[key]) for ma, mb in zip(
                by_name[a].metrics, by_name[b].metrics)]
            mean, lo, hi = paired_interval(diffs)
            per_seed = ' / '.join(f'{d:+.1f}' for d in diffs)
            interval = '-' if math.isnan(lo) else f'[{lo:+.1f}, {hi:+.1f}]'
            lines.append(f'| {a} - {b} | {group} | {per_seed} | '
                         f'{mean:+.1f} | {interval} |')
    return '\n'.join(lines)


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
