"""Write ``<work_dir>/report.md``: the AP table of a run (and of a
baseline) and the diagnostic figures of ``tools/analysis``.

Runs, in this process: ``plot_class_curves`` (GbR weights, GbT thresholds,
gradients when logged) and ``pseudo_label_quality`` (teacher pseudo labels
on the first ``--max-images`` unlabeled images) for every run, and
``compare_logits`` (val, first ``--logit-images`` images) over the runs;
with ``--baseline`` also a precision / recall comparison figure. Figures go
to ``<work_dir>/analysis`` (the baseline's own figures to
``<baseline>/analysis``); the AP table comes from
``compare_runs.load_test_metrics`` (``tools/test.py`` output), "n/a" when a
run was not tested.

    python tools/analysis/demo_report.py work_dirs/compare/seed0/cissod \
        --baseline work_dirs/compare/seed0/soft_teacher
"""
import argparse
import os
import os.path as osp
import time
from typing import List, Optional

from cissod.analysis.plotting import write_csv  # noqa: E402

from . import (
    compare_logits,
    compare_runs,
    plot_class_curves,
    pseudo_label_quality,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dir', help='training work dir (the method)')
    parser.add_argument('--baseline', help='work dir of the baseline run')
    parser.add_argument('--names', nargs=2, metavar=('RUN', 'BASELINE'),
                        help='default: CISSOD and Soft Teacher with '
                        '--baseline, else the work dir name')
    parser.add_argument('--out', help='default: <work_dir>/report.md')
    parser.add_argument('--max-images', type=int, default=200,
                        help='unlabeled images for the pseudo-label '
                        'figures (per run)')
    parser.add_argument('--logit-images', type=int, default=100,
                        help='val images for the logit figure (per run)')
    parser.add_argument('--quiet', action='store_true')
    return parser.parse_args(argv)


def _metrics_table(work_dirs: List[str], names: List[str]) -> str:
    metrics, missing = [], []
    for wd in work_dirs:
        try:
            metrics.append(compare_runs.load_test_metrics(wd))
        except FileNotFoundError:
            metrics.append({})
            missing.append(wd)
    counts = [compare_runs.load_pseudo_label_counts(wd) for wd in work_dirs]
    prefix = 'coco/bbox_AP_'
    classes = [k[len(prefix):] for m in metrics for k in m
               if k.startswith(prefix)]
    classes = list(dict.fromkeys(classes))
    if not classes:
        n = max((len(c) for c in counts if c is not None), default=0)
        classes = [str(i) for i in range(n)]
    table = compare_runs.format_tables(names, metrics, counts, classes)
    if missing:
        table += ('\n\nNo test metrics (n/a) for ' + ', '.join(
            f'`{m}`' for m in missing) + ': run `tools/test.py CONFIG '
            'CHECKPOINT --work-dir <work_dir>/test`.')
    return table


def run(work_dir: str, baseline: Optional[str] = None,
        names: Optional[List[str]] = None, out: Optional[str] = None,
        max_images: int = 200, logit_images: int = 100,
        quiet: bool = False) -> str:
    start = time.time()
    work_dirs = [work_dir] + ([baseline] if baseline else [])
    if names is None:
        names = ['CISSOD', 'Soft Teacher'] if baseline else \
            [osp.basename(work_dir.rstrip('/'))]
    names = list(names)[:len(work_dirs)]
    out = out or osp.join(work_dir, 'report.md')
    report_dir = osp.dirname(osp.abspath(out))
    os.makedirs(report_dir, exist_ok=True)
    analysis = osp.join(work_dir, 'analysis')

    def link(path: str) -> str:
        return osp.relpath(osp.abspath(path), report_dir)

    def image(path: str, alt: str) -> str:
        return f'![{alt}]({link(path)})'

    lines = [f'# Report: {", ".join(names)}', '',
             '## AP (teacher on val)', '',
             _metrics_table(work_dirs, names), '']

    lines += ['## Class weights, thresholds and gradients '
              '(`plot_class_curves.py`)', '']
    for wd, name in zip(work_dirs, names):
        try:
            curves = plot_class_curves.run(wd)
        except FileNotFoundError as err:
            lines += [f'{name}: {err}', '']
            continue
        lines.append(f'**{name}** (data: [{osp.basename(curves["csv"])}]'
                     f'({link(curves["csv"])}))')
        lines.append('')
        lines += [image(f, f'{name} {osp.basename(f)}') + '\n'
                  for f in curves['figures']]
        lines += [f'- skipped `{k}`: {v}' for k, v in
                  curves['skipped'].items()]
        lines.append('')

    lines += ['## Pseudo-label quality on the unlabeled images '
              '(`pseudo_label_quality.py`)', '']
    quality = {}
    for wd, name in zip(work_dirs, names):
        try:
            res = pseudo_label_quality.run(wd, max_images=max_images,
                                           quiet=quiet)
        except (FileNotFoundError, ValueError) as err:
            lines += [f'{name}: skipped ({err})', '']
            continue
        quality[name] = res
        meta = res['meta']
        lines += [f'**{name}**: first {meta["num_images"]} images, '
                  f'IoU {meta["iou"]}, thresholds: '
                  f'{meta["thresholds_source"]} (data: '
                  f'[csv]({link(res["files"]["csv"])}), '
                  f'[json]({link(res["files"]["json"])}))', '',
                  pseudo_label_quality.format_table(res), '',
                  image(res['files']['png'], f'{name} pseudo-label quality'),
                  image(res['files']['mean_score_png'],
                        f'{name} mean score'), '']
    if len(quality) > 1:
        cmp_png = pseudo_label_quality.plot_compare(
            quality, osp.join(analysis, 'pseudo_label_quality_compare.png'))
        rows = [dict(run=name, **r) for name, res in quality.items()
                for r in res['per_class']]
        cmp_csv = write_csv(
            osp.join(analysis, 'pseudo_label_quality_compare.csv'), rows,
            ('run',) + pseudo_label_quality.FIELDS)
        lines += ['**Precision / recall side by side** (data: '
                  f'[csv]({link(cmp_csv)}))', '',
                  image(cmp_png, 'pseudo-label quality comparison'), '']

    lines += ['## RoI logits on val (`compare_logits.py`)', '']
    order = list(reversed(work_dirs)) if baseline else work_dirs
    order_names = list(reversed(names)) if baseline else names
    logits = compare_logits.run(order, order_names, max_images=logit_images,
                                out_dir=analysis, quiet=quiet)
    lines += [f'First {logit_images} val images, RoIs with IoU >= '
              f'{logits["iou"]} to a true box, {logits["which"]} (data: '
              f'[csv]({link(logits["files"]["csv"])}))', '',
              compare_logits.format_table(logits), '',
              image(logits['files']['png'], 'RoI logits'), '']
    lines += [f'_Made by `tools/analysis/demo_report.py` in '
              f'{time.time() - start:.0f} s._', '']
    with open(out, 'w') as f:
        f.write('\n'.join(lines))
    return out


def main(argv=None) -> str:
    a = parse_args(argv)
    out = run(a.work_dir, a.baseline, a.names, a.out, a.max_images,
              a.logit_images, a.quiet)
    print(out)
    return out


if __name__ == '__main__':
    main()
