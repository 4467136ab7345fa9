"""Benchmark of the evaluation backends of ``GroupCocoMetric`` on the CPU.

Usage::

    .venv/bin/python bench/bench_eval.py [--images 5000] [--classes 80 1203]
        [--no-lvis-package] [--seed 0]

On synthetic data (``cissod_core.evaluation.make_detection_set``: Zipf class
popularity, boxes of all COCO sizes, about 7 boxes and 70-100 detections per
image, 1 % of the images with 400 extra detections), it times in one run,
from the ground-truth dict and the detection list in memory to the
accumulated precision array (index building, result loading, evaluate,
accumulate), plus the group summaries read from that one pass:

COCO-size (``--images`` x ``--classes[0]``, COCO-style evaluation):
  (a) pycocotools ``COCOeval``; (b) faster-coco-eval; ratio a / b.
LVIS-size (``--images`` x ``--classes[1]``, LVIS-shaped ground truth):
  (c) pycocotools COCO-style on the LVIS annotations (the metric before
      federated evaluation); (d) faster-coco-eval, federated;
  (e) the official ``lvis`` package 0.5.3 (federated; numpy's removed
      ``np.float`` alias restored for it; skipped with --no-lvis-package);
  ratios c / d and e / d.

Groups: majority = the first half of the classes (by popularity), minority
= the rest; LVIS also r / c / f. Parity is printed next to the times: the
largest absolute difference over AP, AP50, AP75, APs/m/l and the group APs,
(b) vs (a) and (d) vs (e). The full sizes are the defaults; a quick run:
``--images 500``. The stdout of a run is what ``bench/results_eval.txt``
holds (at the size written in its first line).
"""
import argparse
import copy
import os
import platform
import time
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from cissod.evaluation.metrics.eval_backends import EvalArrays, run_evaluation
from cissod_core.evaluation import make_detection_set, summarize_precision

COCO_MAX_DETS = [100, 300, 1000]
ITEMS = (('AP', None, 'all'), ('AP50', .5, 'all'), ('AP75', .75, 'all'),
         ('APs', None, 'small'), ('APm', None, 'medium'),
         ('APl', None, 'large'))


def summaries(precision: np.ndarray, cat_ids: Sequence[int],
              iou_thrs: np.ndarray, area_labels: Sequence[str],
              max_dets: Sequence[int], max_det: int,
              groups: Dict[str, Sequence[int]]) -> Dict[str, float]:
    """AP items and group APs of one accumulated precision array (every
    AP at ``max_det``, the comparison is between backends, not rules)."""
    k_of = {int(c): k for k, c in enumerate(cat_ids)}
    out = {}
    for name, thr, area in ITEMS:
        out[name] = summarize_precision(precision, iou_thrs, area_labels,
                                        max_dets, None, thr, area, max_det)
    for name, ids in groups.items():
        out[name] = summarize_precision(
            precision, iou_thrs, area_labels, max_dets,
            [k_of[c] for c in ids if c in k_of], None, 'all', max_det)
    return out


def timed(fn: Callable[[], Tuple[EvalArrays, Dict[str, float]]]
          ) -> Tuple[float, Dict[str, float]]:
    t0 = time.perf_counter()
    _, values = fn()
    return time.perf_counter() - t0, values


def ours(backend: str, gt: dict, dets: List[dict], max_dets: List[int],
         federated: bool, groups: Dict[str, Sequence[int]]):
    """One ``run_evaluation`` pass + the summaries, as GroupCocoMetric."""
    gt, dets = copy.deepcopy(gt), copy.deepcopy(dets)

    def run():
        cat_ids = sorted(c['id'] for c in gt['categories'])
        img_ids = [img['id'] for img in gt['images']]
        arr = run_evaluation(backend, gt, dets, 'bbox', cat_ids, img_ids,
                             max_dets, np.linspace(.5, .95, 10),
                             federated=federated)
        return arr, summaries(arr.precision, arr.cat_ids, arr.iou_thrs,
                              arr.area_labels, arr.max_dets,
                              arr.max_dets[-1], groups)
    return run


def lvis_package(gt: dict, dets: List[dict], groups):
    """The official evaluator, ``LVISEval`` from the in-memory dict."""
    import lvis
    np.float = float  # removed in numpy 1.24; lvis 0.5.3 still uses it
    gt, dets = copy.deepcopy(gt), copy.deepcopy(dets)

    def run():
        api = lvis.LVIS.__new__(lvis.LVIS)
        api.logger = lvis.lvis.logging.getLogger('lvis.lvis')
        api.dataset = gt
        api._create_index()
        res = lvis.LVISResults(api, dets, max_dets=300)
        ev = lvis.LVISEval(api, res, 'bbox')
        ev.evaluate()
        ev.accumulate()
        p = ev.params
        prec = ev.eval['precision'][..., None]  # add the M axis (300)
        return ev, summaries(prec, p.cat_ids, p.iou_thrs, p.area_rng_lbl,
                             [300], 300, groups)
    return run


def max_diff(a: Dict[str, float], b: Dict[str, float]) -> float:
    return max(abs(a[k] - b[k]) for k in a)


def fmt(values: Dict[str, float]) -> str:
    return ' '.join(f'{k} {100 * v:.2f}' for k, v in values.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=5000)
    parser.add_argument('--classes', type=int, nargs=2, default=[80, 1203],
                        metavar=('COCO', 'LVIS'))
    parser.add_argument('--no-lvis-package', action='store_true')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    from importlib.metadata import version
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    print(f'evaluation benchmark: numpy {np.__version__}, pycocotools '
          f'{version("pycocotools")}, faster-coco-eval '
          f'{version("faster-coco-eval")}, {os.cpu_count()} CPUs '
          f'({platform.machine()}), load average {load:.2f}')
    crowded = range(0, args.images, 100)  # 1 %: 400 extra detections

    # ------------------------------------------------------------ COCO-size
    n = args.classes[0]
    gt, dets = make_detection_set(args.images, n, seed=args.seed,
                                  crowded_images=crowded)
    ids = [c['id'] for c in gt['categories']]
    groups = dict(majority=ids[:n // 2], minority=ids[n // 2:])
    print(f'\nCOCO-size: {args.images:,} images x {n} classes, '
          f'{len(gt["annotations"]):,} boxes, {len(dets):,} detections; '
          'COCO-style, maxDets 100/300/1000, AP read at 1000')
    t_a, v_a = timed(ours('pycocotools', gt, dets, COCO_MAX_DETS, False,
                          groups))
    print(f'(a) pycocotools      {t_a:8.2f} s   {fmt(v_a)}')
    t_b, v_b = timed(ours('faster_coco_eval', gt, dets, COCO_MAX_DETS,
                          False, groups))
    print(f'(b) faster_coco_eval {t_b:8.2f} s   max |b - a| = '
          f'{max_diff(v_b, v_a):.1e}')
    print(f'    ratio a / b: {t_a / t_b:.1f}x')

    # ------------------------------------------------------------ LVIS-size
    n = args.classes[1]
    gt, dets = make_detection_set(args.images, n, lvis=True,
                                  seed=args.seed + 1, crowded_images=crowded)
    ids = [c['id'] for c in gt['categories']]
    groups = dict(majority=ids[:n // 2], minority=ids[n // 2:])
    for code in 'rcf':
        groups['AP' + code] = [c['id'] for c in gt['categories']
                               if c['frequency'] == code]
    print(f'\nLVIS-size: {args.images:,} images x {n} classes, '
          f'{len(gt["annotations"]):,} boxes, {len(dets):,} detections')
    t_c, v_c = timed(ours('pycocotools', gt, dets, COCO_MAX_DETS, False,
                          groups))
    print(f'(c) pycocotools, COCO-style        {t_c:8.2f} s   {fmt(v_c)}')
    t_d, v_d = timed(ours('faster_coco_eval', gt, dets, [300], True,
                          groups))
    print(f'(d) faster_coco_eval, federated    {t_d:8.2f} s   {fmt(v_d)}')
    print(f'    ratio c / d: {t_c / t_d:.1f}x')
    if args.no_lvis_package:
        print('(e) lvis package: skipped (--no-lvis-package)')
        return
    try:
        import lvis  # noqa: F401
    except ImportError:
        print('(e) lvis package: not installed (tools/install.sh installs '
              'it)')
        return
    t_e, v_e = timed(lvis_package(gt, dets, groups))
    print(f'(e) lvis 0.5.3, federated          {t_e:8.2f} s   max |d - e| '
          f'= {max_diff(v_d, v_e):.1e}')
    print(f'    ratio e / d: {t_e / t_d:.1f}x')


if __name__ == '__main__':
    main()
