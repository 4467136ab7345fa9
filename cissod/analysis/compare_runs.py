"""Compare trained runs side by side: AP all / majority / minority and the
per-class pseudo-label counts and AP.

Reads, for every work dir, the metrics JSON that ``tools/test.py`` wrote
(``<work_dir>/test/<timestamp>/<timestamp>.json``, the newest) and the
``pseudo_label_counts`` buffer of the checkpoint in ``last_checkpoint``
(CISSODSoftTeacher keeps it; other detectors show "-") and GbT's score
statistics per class: the number of teacher detections it averaged and
their running mean score ``m_c``. Prints markdown tables and writes them
to ``--out``.

    python tools/analysis/compare_runs.py \
        work_dirs/compare/seed0/soft_teacher \
        work_dirs/compare/seed0/cissod --names "Soft Teacher" CISSOD \
        --out work_dirs/compare.md
"""
import argparse
import glob
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from cissod.analysis.seed_stats import GROUPS  # metric keys, one definition
from cissod.analysis.workdir import find_checkpoint
from cissod.utils import load_checkpoint_file


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dirs', nargs='+', help='work dirs to compare')
    parser.add_argument('--names', nargs='+', help='row names (default: '
                        'the work dir names)')
    parser.add_argument('--out', help='also write the tables here (.md)')
    return parser.parse_args()


def load_test_metrics(work_dir: str) -> Dict[str, float]:
    """The newest metrics JSON written by tools/test.py in ``work_dir``."""
    paths = sorted(glob.glob(osp.join(work_dir, 'test', '*', '*.json')))
    if not paths:
        raise FileNotFoundError(
            f'no test metrics under {work_dir}/test: run tools/test.py '
            f'CONFIG CHECKPOINT --work-dir {work_dir}/test first')
    metrics: Dict[str, float] = {}
    with open(paths[-1]) as f:
        for line in f:
            metrics.update(json.loads(line))
    return metrics


def _last_state_dict(work_dir: str) -> Optional[dict]:
    """``state_dict`` of the checkpoint in ``last_checkpoint``, or None."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    # find_checkpoint also finds it when the work dir was moved
    return load_checkpoint_file(find_checkpoint(work_dir))['state_dict']


def load_pseudo_label_counts(work_dir: str) -> Optional[List[int]]:
    """``pseudo_label_counts`` of the last checkpoint, or None."""
    state = _last_state_dict(work_dir)
    counts = None if state is None else state.get('pseudo_label_counts')
    return None if counts is None else [int(c) for c in counts]


def load_candidate_stats(
        work_dir: str) -> Optional[Tuple[List[int], List[float]]]:
    """GbT's statistics per class from the last checkpoint: the number of
    teacher detections averaged over the run (every RoI-head detection with
    score > 0.05 by default, ``gbt.score_source='detections'``; the
    candidates above ``pseudo_label_initial_score_thr`` with
    ``'candidates'``) and their running mean score ``m_c`` (exact for the
    first 1000 per class); None without GbT state."""
    state = _last_state_dict(work_dir)
    if state is None or 'class_thresholds.score_means.count' not in state:
        return None
    counts = state['class_thresholds.score_means.count']
    means = state['class_thresholds.score_means.mean']
    return [int(c) for c in counts], [float(m) for m in means]


def _pct(value: Optional[float]) -> str:
    """AP in percent; missing or -1 (no ground truth) is n/a."""
    return 'n/a' if value is None or value < 0 else f'{100 * value:.1f}'


def format_tables(
    names: Sequence[str],
    metrics: Sequence[Dict[str, float]],
    counts: Sequence[Optional[List[int]]],
    classes: Sequence[str],
    candidates: Optional[Sequence[Optional[Tuple[List[int],
                                                 List[float]]]]] = None
) -> str:
    """Markdown: one AP table, one per-class table (kept pseudo labels, AP)
    and, given ``candidates``, one of GbT's statistics per class (teacher
    detections averaged, mean score m_c)."""
    lines = ['| method | ' + ' | '.join(g for g, _ in GROUPS) + ' |',
             '|---|' + '---:|' * len(GROUPS)]
    for name, m in zip(names, metrics):
        cells = [_pct(m.get(key)) for _, key in GROUPS]
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    lines += ['', '| class | ' + ' | '.join(
        f'{n} pseudo labels | {n} AP' for n in names) + ' |',
        '|---|' + '---:|---:|' * len(names)]
    for i, cls in enumerate(classes):
        cells = []
        for m, c in zip(metrics, counts):
            cells.append('-' if c is None else str(c[i]))
            cells.append(_pct(m.get(f'coco/bbox_AP_{cls}')))
        lines.append(f'| {cls} | ' + ' | '.join(cells) + ' |')
    if candidates and any(c is not None for c in candidates):
        lines += ['', '| class | ' + ' | '.join(
            f'{n} GbT detections | {n} m_c' for n in names) + ' |',
            '|---|' + '---:|---:|' * len(names)]
        for i, cls in enumerate(classes):
            cells = []
            for c in candidates:
                if c is None:
                    cells += ['-', '-']
                else:
                    n, m = c[0][i], c[1][i]
                    cells += [str(n), f'{m:.3f}' if n > 0 else 'n/a']
            lines.append(f'| {cls} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main() -> None:
    args = parse_args()
    names = args.names or [osp.basename(w.rstrip('/')) for w in args.work_dirs]
    if len(names) != len(args.work_dirs):
        raise ValueError(f'{len(names)} names for {len(args.work_dirs)} '
                         'work dirs')
    metrics = [load_test_metrics(w) for w in args.work_dirs]
    counts = [load_pseudo_label_counts(w) for w in args.work_dirs]
    prefix = 'coco/bbox_AP_'
    classes = [k[len(prefix):] for k in metrics[0] if k.startswith(prefix)]
    if not classes:
        n = max((len(c) for c in counts if c is not None), default=0)
        classes = [str(i) for i in range(n)]
    candidates = [load_candidate_stats(w) for w in args.work_dirs]
    table = format_tables(names, metrics, counts, classes, candidates)
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')


if __name__ == '__main__':
    main()
