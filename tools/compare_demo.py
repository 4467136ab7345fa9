#!/usr/bin/env python
"""Side-by-side demo comparison over several seeds, from one command.

For every seed: the supervised burn-in (``faster-rcnn_sup_demo.py``; the
RetinaNet runs of the second SSOD framework start from their own,
``retinanet_sup_demo.py``, trained only when one of them is asked for),
then every semi-supervised run from that seed's burn-in, each trained with
``tools/train.py`` and its teacher evaluated with ``tools/test.py``. Prints
(and writes to ``<out>/<--table>``, default ``compare.md``) AP all /
majority / minority as mean +- std over the seeds, per-class AP and pseudo
labels per class (means), and, with ``--quality``, the precision and recall
of the final teacher's pseudo labels on the unlabeled images against their
true boxes.

    python tools/compare_demo.py                      # make compare
    python tools/compare_demo.py --seeds 0 --jobs 1   # one seed
    python tools/compare_demo.py --runs soft_teacher cissod cissod_improved
    python tools/compare_demo.py --runs soft_teacher cissod mean_teacher \
        cissod_mean_teacher mean_teacher_retinanet \
        cissod_mean_teacher_retinanet      # make compare-frameworks

``--configs DIR/NAME`` compares the three configs that
``tools/prepare_custom_dataset.py`` wrote for a dataset instead
(``NAME_supervised.py``, ``NAME_soft-teacher.py``, ``NAME_cissod.py``)::

    python tools/compare_demo.py --configs configs/custom/trees/trees \
        --out work_dirs/trees_compare

Runs already evaluated (a metrics file under ``<work_dir>/test``) are not
trained again (``--force`` redoes them), so an interrupted comparison
continues where it stopped. ``--jobs 2`` trains two runs at a time; every
run uses ``--threads`` (1) OpenMP threads whatever ``--jobs`` is, so that
a run gives the same numbers alone (``make demo``) and in a comparison.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence

from cissod.analysis import compare_runs
from cissod.analysis.seed_stats import (
    RunResult,
    format_paired_table,
    format_seed_tables,
)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SUP = 'supervised'
SUP_RETINANET = 'supervised_retinanet'
#: run name -> (config, row label[, burn-in run]). The semi-supervised runs
#: start from the burn-in run named third (default: SUP); the burn-ins come
#: first. Second SSOD framework (docs/frameworks.md): the mean teacher with
#: hard pseudo labels, without / with the method, on the Faster R-CNN and on
#: a RetinaNet (its own burn-in).
RUNS: Dict[str, tuple] = {
    SUP: ('configs/demo/faster-rcnn_sup_demo.py',
          'supervised burn-in (labeled only)'),
    SUP_RETINANET: ('configs/demo/retinanet_sup_demo.py',
                    'supervised burn-in, RetinaNet (labeled only)'),
    'soft_teacher': ('configs/demo/cissod_demo_off.py', 'Soft Teacher'),
    'cissod': ('configs/demo/cissod_demo.py', 'CISSOD (reference)'),
    'cissod_improved': ('configs/demo/cissod_demo_improved.py',
                        'CISSOD (improved)'),
    'gbt_floor': ('configs/demo/ablations/cissod_demo_gbt-floor.py',
                  'CISSOD + adaptive GbT floor'),
    'crs_margin': ('configs/demo/ablations/cissod_demo_crs-margin.py',
                   'CISSOD + normalised CrS margin'),
    'gbt_candidates': ('configs/demo/ablations/cissod_demo_gbt-candidates.py',
                       'CISSOD, GbT scores of candidates only'),
    'mean_teacher': ('configs/demo/mean_teacher_demo.py',
                     'Mean Teacher (hard pseudo labels)'),
    'cissod_mean_teacher': ('configs/demo/cissod_mean_teacher_demo.py',
                            'Mean Teacher + CISSOD'),
    'mean_teacher_retinanet': (
        'configs/demo/mean_teacher_retinanet_demo.py',
        'Mean Teacher, RetinaNet', SUP_RETINANET),
    'cissod_mean_teacher_retinanet': (
        'configs/demo/cissod_mean_teacher_retinanet_demo.py',
        'Mean Teacher + CISSOD, RetinaNet', SUP_RETINANET),
}
#: the burn-in runs (every other run starts from one of them)
BURN_INS = (SUP, SUP_RETINANET)
DEFAULT_RUNS = ('soft_teacher', 'cissod')
#: make compare-frameworks: both frameworks, without / with the method
FRAMEWORK_RUNS = ('soft_teacher', 'cissod', 'mean_teacher',
                  'cissod_mean_teacher', 'mean_teacher_retinanet',
                  'cissod_mean_teacher_retinanet')

#: (run, baseline): the paired differences printed under the tables
PAIRS = (('cissod', 'soft_teacher'), ('cissod_improved', 'cissod'),
         ('cissod_mean_teacher', 'mean_teacher'),
         ('cissod_mean_teacher_retinanet', 'mean_teacher_retinanet'))

def burn_in_of(runs: Dict[str, tuple], run: str) -> str:
    """The burn-in run ``run`` starts from."""
    return runs[run][2] if len(runs[run]) > 2 else SUP


def row_order(runs: Dict[str, tuple], selected: Sequence[str]) -> List[str]:
    """Burn-ins first (the supervised one always), each followed by the
    selected runs that start from it."""
    burn_ins = [SUP] + [
        b for b in runs if b != SUP
        and any(burn_in_of(runs, r) == b for r in selected)
    ]
    order = []
    for burn_in in burn_ins:
        order.append(burn_in)
        order.extend(r for r in selected if burn_in_of(runs, r) == burn_in)
    return order


def custom_runs(prefix: str) -> Dict[str, tuple]:
    """The runs of a config set written by prepare_custom_dataset.py."""
    runs = {
        SUP: (f'{prefix}_supervised.py', 'supervised (labeled only)'),
        'soft_teacher': (f'{prefix}_soft-teacher.py', 'Soft Teacher'),
        'cissod': (f'{prefix}_cissod.py', 'CISSOD'),
    }
    missing = [c for c, _ in runs.values() if not osp.isfile(c)]
    if missing:
        raise FileNotFoundError(
            f'--configs {prefix}: {missing} do not exist; write them with '
            'tools/prepare_custom_dataset.py')
    return runs


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--runs', nargs='+', default=list(DEFAULT_RUNS),
                        choices=[r for r in RUNS if r not in BURN_INS],
                        help='semi-supervised runs (the supervised burn-in '
                        'always runs, the RetinaNet one when a run needs '
                        'it)')
    parser.add_argument('--jobs', type=int, default=2,
                        help='runs trained at the same time')
    parser.add_argument('--out', default='work_dirs/compare',
                        help='root of the work dirs and of compare.md')
    parser.add_argument('--quality', action='store_true',
                        help='also measure pseudo-label precision / recall '
                        'of every final teacher on the unlabeled images')
    parser.add_argument('--quality-images', type=int, default=0,
                        help='unlabeled images for --quality (0: all)')
    parser.add_argument('--table', default='compare.md',
                        help='file name of the table under --out')
    parser.add_argument('--threads', type=int, default=1,
                        help='OMP/MKL threads per run (1: the numbers do '
                        'not depend on --jobs; torch\'s results change with '
                        'the thread count)')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        metavar='KEY=VALUE',
                        help='extra config overrides of the semi-supervised '
                        'runs (not the burn-in), e.g. '
                        'model.semi_train_cfg.unsup_weight=2.0')
    parser.add_argument('--configs', metavar='DIR/NAME',
                        help='compare the supervised / Soft Teacher / '
                        'CISSOD configs written by '
                        'tools/prepare_custom_dataset.py instead of the '
                        'demo runs')
    parser.add_argument('--force', action='store_true',
                        help='train and test again even if evaluated')
    return parser.parse_args(argv)


def work_dir_of(out: str, seed: int, run: str) -> str:
    return osp.join(out, f'seed{seed}', run)


def is_evaluated(work_dir: str) -> bool:
    try:
        compare_runs.load_test_metrics(work_dir)
        return True
    except FileNotFoundError:
        return False


def checkpoint_of(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


_print_lock = threading.Lock()


def _log(msg: str) -> None:
    with _print_lock:
        print(f'[compare {time.strftime("%H:%M:%S")}] {msg}', flush=True)


def _run(cmd: List[str], log_path: str, env: dict) -> None:
    with open(log_path, 'a') as log:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        with open(log_path) as f:
            tail = ''.join(f.readlines()[-30:])
        raise RuntimeError(f'{" ".join(cmd)} failed (exit '
                           f'{proc.returncode}); last lines of {log_path}:\n'
                           f'{tail}')


def train_and_test(runs: Dict[str, tuple], run: str, seed: int, out: str,
                   env: dict, force: bool,
                   wait_for: Optional[Future] = None,
                   cfg_options: Sequence[str] = ()) -> str:
    """Train and evaluate one run; returns its work dir."""
    load_from = wait_for.result() if wait_for is not None else None
    config = runs[run][0]
    work_dir = work_dir_of(out, seed, run)
    if not force and is_evaluated(work_dir):
        _log(f'seed {seed} {run}: evaluated before, kept')
        return work_dir
    os.makedirs(work_dir, exist_ok=True)
    options = [f'randomness.seed={seed}']
    if load_from is not None:
        options.append(f'load_from={checkpoint_of(load_from)}')
        options.extend(cfg_options)
    py = sys.executable
    t0 = time.time()
    _log(f'seed {seed} {run}: training ({config})')
    _run([py, 'tools/train.py', config, '--work-dir', work_dir,
          '--cfg-options', *options], osp.join(work_dir, 'train.out'), env)
    _run([py, 'tools/test.py', config, checkpoint_of(work_dir), '--work-dir',
          osp.join(work_dir, 'test')], osp.join(work_dir, 'test.log'), env)
    _log(f'seed {seed} {run}: done in {(time.time() - t0) / 60:.1f} min')
    return work_dir


def collect(runs: Dict[str, tuple], run: str, work_dirs: Sequence[str],
            quality: bool, quality_images: int,
            burn_ins: Sequence[str] = (SUP, )) -> RunResult:
    """Metrics, pseudo-label counts (and quality) of one run's seeds."""
    metrics = [compare_runs.load_test_metrics(w) for w in work_dirs]
    counts = [compare_runs.load_pseudo_label_counts(w) for w in work_dirs]
    precision = None
    if quality and run not in burn_ins:
        from cissod.analysis import pseudo_label_quality
        precision = [
            pseudo_label_quality.run(w, max_images=quality_images or None,
                                     batch_size=8, quiet=True)
            for w in work_dirs
        ]
    return RunResult(runs[run][1], metrics, counts, precision)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.configs:
        args.configs = osp.abspath(args.configs)
    os.chdir(ROOT)
    runs = custom_runs(args.configs) if args.configs else RUNS
    unknown = [r for r in args.runs if r not in runs]
    if unknown:
        raise SystemExit(f'--runs {unknown}: not runs of --configs '
                         f'(choose from {[r for r in runs if r != SUP]})')
    order = row_order(runs, args.runs)
    burn_ins = [r for r in order if r not in args.runs]
    jobs = max(1, args.jobs)
    env = dict(os.environ)
    threads = str(max(1, args.threads))
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    t0 = time.time()
    futures: Dict[tuple, Future] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        # burn-ins first: a semi-supervised run only waits for a burn-in
        # that was submitted (and so started) before it
        for burn_in in burn_ins:
            for seed in args.seeds:
                futures[seed, burn_in] = pool.submit(
                    train_and_test, runs, burn_in, seed, args.out, env,
                    args.force)
        for run in args.runs:
            for seed in args.seeds:
                futures[seed, run] = pool.submit(
                    train_and_test, runs, run, seed, args.out, env,
                    args.force,
                    futures[seed, burn_in_of(runs, run)], args.cfg_options)
    for future in futures.values():
        future.result()  # raise the first failure
    _log(f'all runs done in {(time.time() - t0) / 60:.1f} min')
    results = [
        collect(runs, run,
                [work_dir_of(args.out, s, run) for s in args.seeds],
                args.quality, args.quality_images, burn_ins)
        for run in order
    ]
    table = format_seed_tables(results, args.seeds)
    pairs = [(runs[a][1], runs[b][1]) for a, b in PAIRS
             if a in order and b in order]
    if pairs:
        table += '\n\n' + format_paired_table(results, pairs, args.seeds)
    print(table)
    path = osp.join(args.out, args.table)
    with open(path, 'w') as f:
        f.write(table + '\n')
    _log(f'written to {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
