"""Compare trained runs side by side: AP all / majority / minority and the
per-class pseudo-label counts and AP.

Reads, for every work dir, the metrics JSON that ``tools/test.py`` wrote
(``<work_dir>/test/<timestamp>/<timestamp>.json``, the newest) and the
``pseudo_label_counts`` buffer of the checkpoint in ``last_checkpoint``
(CISSODSoftTeacher keeps it; other detectors show "-"). Prints markdown
tables and writes them to ``--out``.

    python tools/analysis/compare_runs.py work_dirs/cissod_demo_off \
        work_dirs/cissod_demo --names "Soft Teacher" CISSOD \
        --out work_dirs/compare.md
"""
import argparse
import glob
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import torch

GROUPS = (('AP', 'coco/bbox_mAP'), ('AP maj', 'coco/bbox_majority_mAP'),
          ('AP min', 'coco/bbox_minority_mAP'))


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


def load_pseudo_label_counts(work_dir: str) -> Optional[List[int]]:
    """``pseudo_label_counts`` of the last checkpoint, or None."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        ckpt_path = f.read().strip()
    state = torch.load(ckpt_path, map_location='cpu')['state_dict']
    counts = state.get('pseudo_label_counts')
    return None if counts is None else [int(c) for c in counts]


def _pct(value: Optional[float]) -> str:
    """AP in percent; missing or -1 (no ground truth) is n/a."""
    return 'n/a' if value is None or value < 0 else f'{100 * value:.1f}'


def format_tables(names: Sequence[str], metrics: Sequence[Dict[str, float]],
                  counts: Sequence[Optional[List[int]]],
                  classes: Sequence[str]) -> str:
    """Markdown: one AP table and one per-class table."""
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
    table = format_tables(names, metrics, counts, classes)
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')


if __name__ == '__main__':
    main()
