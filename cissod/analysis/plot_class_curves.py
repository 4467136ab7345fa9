"""Per-class GbR weights and GbT thresholds over training (two panels),
positive vs negative gradient of one class (paper Fig. 5) and majority vs
minority mean gradient (Fig. 3), from the scalars a run logged.

Reads every ``<work_dir>/<timestamp>/vis_data/scalars.json`` and writes to
``--out-dir`` (default ``<work_dir>/analysis``):

* ``class_curves.png``: ``gbr/weight/<class>`` and ``gbt/thr/<class>``;
* ``grad_pos_neg_<class>.png``: ``gbr/pos_grad/<class>`` and
  ``gbr/neg_grad/<class>``;
* ``grad_majority_minority.png``: ``gbr/grad_majority`` and
  ``gbr/grad_minority``;
* ``class_curves.csv`` (long format: key, step, value: every value drawn)
  and ``class_curves.json`` (``{key: {steps, values}}`` + which figures
  were skipped and why).

A figure whose keys were not logged is skipped with a message.

    python tools/analysis/plot_class_curves.py work_dirs/compare/seed0/cissod \
        --class white_star
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

from cissod.analysis.plotting import (
    new_figure,
    save_figure,
    write_csv,
    write_json,
)
from cissod.analysis.scalars import load_scalars, scalar_series
from cissod.analysis.workdir import default_out_dir

Series = Dict[str, Tuple[List[int], List[float]]]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dir', help='training work dir')
    parser.add_argument('--out-dir', help='default: <work_dir>/analysis')
    parser.add_argument('--class', dest='cls', help='class of the positive '
                        'vs negative gradient figure (default: the last '
                        'class logged, i.e. the rarest)')
    parser.add_argument('--no-background', action='store_true',
                        help='leave the background weight out')
    return parser.parse_args(argv)


def _plot_lines(ax, series: Series, title: str, ylabel: str) -> None:
    for name, (steps, values) in series.items():
        style = '--' if name == 'background' else '-'
        ax.plot(steps, values, style, label=name or title, linewidth=1.2)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel('iteration', fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, ncol=2)


def run(work_dir: str, out_dir: Optional[str] = None,
        cls: Optional[str] = None, background: bool = True) -> dict:
    """Draw what was logged; returns ``{'figures': [...], 'csv', 'json',
    'skipped': {figure: reason}}``."""
    out = default_out_dir(work_dir, out_dir)
    records = load_scalars(work_dir)
    weights = scalar_series(records, 'gbr/weight/')
    if not background:
        weights.pop('background', None)
    thresholds = scalar_series(records, 'gbt/thr/')
    pos = scalar_series(records, 'gbr/pos_grad/')
    neg = scalar_series(records, 'gbr/neg_grad/')
    groups = {}
    for g in ('majority', 'minority'):
        s = scalar_series(records, f'gbr/grad_{g}')
        if '' in s:
            groups[g] = s['']

    drawn: Dict[str, Tuple[List[int], List[float]]] = {}
    figures, skipped = [], {}

    if weights or thresholds:
        fig, axes = new_figure(ncols=2)
        for ax, series, title, key in (
                (axes[0], weights, 'GbR class weights', 'gbr/weight/'),
                (axes[1], thresholds, 'GbT class thresholds', 'gbt/thr/')):
            if series:
                _plot_lines(ax, series, title, title.split()[-1][:-1])
                drawn.update({key + k: v for k, v in series.items()})
            else:
                ax.set_axis_off()
                ax.set_title(f'{title}: not logged ({key}*)', fontsize=8)
        figures.append(save_figure(fig, osp.join(out, 'class_curves.png')))
    else:
        skipped['class_curves.png'] = ('no gbr/weight/<class> or '
                                       'gbt/thr/<class> keys logged')

    if pos and neg:
        names = [c for c in pos if c in neg and c != 'background']
        if cls is None and names:
            cls = names[-1]
        if cls in pos and cls in neg:
            fig, axes = new_figure()
            series = {'positive': pos[cls], 'negative': neg[cls]}
            _plot_lines(axes[0], series, f'gradient of {cls}', 'gradient')
            drawn[f'gbr/pos_grad/{cls}'] = pos[cls]
            drawn[f'gbr/neg_grad/{cls}'] = neg[cls]
            figures.append(save_figure(
                fig, osp.join(out, f'grad_pos_neg_{cls}.png')))
        else:
            skipped['grad_pos_neg.png'] = (
                f'class {cls!r} not logged; logged: {names}')
    else:
        skipped['grad_pos_neg.png'] = ('no gbr/pos_grad/<class> and '
                                       'gbr/neg_grad/<class> keys logged')

    if len(groups) == 2:
        fig, axes = new_figure()
        _plot_lines(axes[0], groups, 'mean gradient: majority vs minority',
                    'gradient')
        drawn.update({f'gbr/grad_{g}': v for g, v in groups.items()})
        figures.append(save_figure(
            fig, osp.join(out, 'grad_majority_minority.png')))
    else:
        skipped['grad_majority_minority.png'] = (
            'no gbr/grad_majority and gbr/grad_minority keys logged')

    for name, reason in skipped.items():
        print(f'plot_class_curves: skipping {name}: {reason}',
              file=sys.stderr)
    rows = [dict(key=k, step=s, value=v) for k, (steps, values) in
            drawn.items() for s, v in zip(steps, values)]
    csv_path = write_csv(osp.join(out, 'class_curves.csv'), rows,
                         ('key', 'step', 'value'))
    json_path = write_json(
        osp.join(out, 'class_curves.json'),
        dict(work_dir=work_dir, grad_class=cls, skipped=skipped,
             series={k: dict(steps=s, values=v)
                     for k, (s, v) in drawn.items()}))
    return dict(figures=figures, csv=csv_path, json=json_path,
                skipped=skipped)


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = run(args.work_dir, args.out_dir, args.cls,
                 background=not args.no_background)
    for path in result['figures'] + [result['csv'], result['json']]:
        print(path)
    return result


if __name__ == '__main__':
    main()
