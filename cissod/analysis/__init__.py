"""The analyses of trained work dirs (paper figures) and their helpers.

The analyses, each with a ``main(argv)`` run by its CLI in
``tools/analysis/<name>.py``:

* :mod:`.compare_runs`: final-checkpoint state of two runs side by side.
* :mod:`.compare_logits`: RoI logits of two teachers on the same images.
* :mod:`.plot_class_curves`: per-class curves from ``scalars.json``.
* :mod:`.pseudo_label_quality`: pseudo-label precision / recall.
* :mod:`.demo_report`: all of the above for a demo run.

Pure helpers, nothing is registered:

* :mod:`.scalars`: read ``<work_dir>/<timestamp>/vis_data/scalars.json`` and
  pick per-class series (``gbr/weight/<class>``, ``gbt/thr/<class>``, ...).
* :mod:`.workdir`: find a work dir's dumped config and last checkpoint, build
  the model from it and load the weights, class names and groups.
* :mod:`.matching`: IoU and greedy per-class matching of detections to
  ground truth (pseudo-label precision / recall).
* :mod:`.plotting`: small Agg figures and CSV / JSON writers.
* :mod:`.seed_stats`: mean +- std over seeds of the demo comparison
  (``tools/compare_demo.py``).
"""
from .matching import box_iou, greedy_match, precision_recall
from .scalars import find_scalar_files, load_scalars, scalar_series
from .workdir import (
                      build_model,
                      class_groups,
                      default_out_dir,
                      find_checkpoint,
                      find_config,
                      get_detector,
                      load_config,
                      restore_iter,
)

__all__ = [
    'box_iou', 'greedy_match', 'precision_recall', 'find_scalar_files',
    'load_scalars', 'scalar_series', 'build_model', 'class_groups',
    'default_out_dir', 'find_checkpoint', 'find_config', 'get_detector',
    'load_config', 'restore_iter'
]
