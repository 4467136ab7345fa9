"""COCO metric that also reports AP over named groups of classes.

Class-imbalanced detection is judged on how the rare (minority) classes fare,
not only on the overall mAP. :class:`GroupCocoMetric` runs the COCO
evaluation once and slices the per-category precision array of
``COCOeval.eval['precision']`` (shape ``T x R x K x A x M``) to get the AP of
every group, averaging the entries ``> -1`` exactly as ``COCOeval.summarize``
does (:mod:`cissod_core.evaluation`); the overall items are read from the
same array with ``summarize``'s maxDets rule. A group's AP is therefore
identical to the AP of a separate ``COCOeval`` run whose
``params.catIds`` is restricted to the group.

Config usage::

    val_evaluator = dict(
        type='GroupCocoMetric',
        ann_file='data/demo/annotations/val.json',
        metric='bbox',
        class_groups=dict(majority=['red_circle', 'blue_square'],
                          minority=['green_triangle']),
        classwise=False)

Returned keys (``BaseMetric.evaluate`` prepends the prefix, ``coco/`` by
default), all on CocoMetric's scale (0-1, rounded to 3 decimals):

* ``bbox_mAP``, ``bbox_mAP_50``, ``bbox_mAP_75``, ``bbox_mAP_s``,
  ``bbox_mAP_m``, ``bbox_mAP_l`` -- over all classes, as
  :class:`mmdet.evaluation.CocoMetric` (``metric_items`` selects them, the
  AR items ``AR@100`` ... included).
* ``bbox_<group>_mAP``, ``bbox_<group>_mAP_50``, ``bbox_<group>_mAP_75`` --
  for each group of ``class_groups``.
* ``bbox_APr``, ``bbox_APc``, ``bbox_APf`` -- when the categories of the
  ground truth carry LVIS ``frequency`` fields (``'r'``, ``'c'``, ``'f'``),
  the AP over the rare / common / frequent classes: COCO-style AP by
  default, LVIS' federated AP with ``federated=True``.
* ``bbox_AP_<classname>`` -- per-class AP, only with ``classwise=True``.

The same keys with ``segm`` replace ``bbox`` for ``metric='segm'``.

Backends and the LVIS protocol (:mod:`.eval_backends`): ``backend=
'pycocotools'`` (default) or ``'faster_coco_eval'`` (same numbers, C++
evaluate/accumulate). ``federated=True`` (needs ``'faster_coco_eval'``)
evaluates as LVIS' official ``LVISEval``: per image only the categories
annotated or listed in ``neg_category_ids`` count, unmatched detections of
``not_exhaustive_category_ids`` are ignored, at most ``max_dets_per_image``
(300) detections per image; every AP item (``mAP`` ... ``mAP_l``, groups,
r/c/f) is then read at that single maxDets setting, as ``LVISEval``. In all
cases overall, group and r/c/f values come from one evaluation pass::

    val_evaluator = dict(type='GroupCocoMetric', ann_file='lvis_v1_val.json',
                         backend='faster_coco_eval', federated=True,
                         class_groups=dict(majority=[...], minority=[...]))

A group (or class) none of whose classes has a ground-truth box in the
evaluated images gets ``-1``, as pycocotools' own ``summarize``: precision
entries of such categories are ``-1`` and are skipped; if nothing is left the
value is ``-1``. Predictions of a class without ground truth are not counted
as false positives by pycocotools either.
"""
import os.path as osp
import tempfile
from collections import Counter, OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from mmdet.datasets.api_wrappers import COCO, COCOeval
from mmdet.evaluation.metrics import CocoMetric
from mmdet.registry import METRICS
from mmengine.fileio import load
from mmengine.logging import MMLogger
from terminaltables import AsciiTable

from cissod_core.class_groups import resolve_class_groups
from cissod_core.datasets import check_finite_predictions
from cissod_core.evaluation import (
    summarize_precision,
    summarize_recall,
    summary_items,
)

from .eval_backends import (
    MAX_EVAL_PAIRS,
    EvalArrays,
    check_backend,
    check_federated_gt,
    run_evaluation,
)

#: LVIS ``frequency`` code -> (metric key suffix, group name in the log).
LVIS_FREQUENCIES: Dict[str, Tuple[str, str]] = {
    'r': ('APr', 'rare'),
    'c': ('APc', 'common'),
    'f': ('APf', 'frequent'),
}

_DEFAULT_ITEMS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')


def summarize_ap(coco_eval: COCOeval,
                 cat_ids: Optional[Sequence[int]] = None,
                 iou_thr: Optional[float] = None,
                 area_rng: str = 'all',
                 max_dets: int = 100) -> float:
    """AP over a subset of categories, computed as ``COCOeval.summarize``.

    Slices the category axis of ``coco_eval.eval['precision']`` and then
    follows ``summarize``'s ``_summarize(ap=1, ...)``: select the IoU
    threshold, the area range and the max-detections setting, and average
    the entries ``> -1`` (``-1`` if there are none).

    Args:
        coco_eval (COCOeval): An evaluated and accumulated ``COCOeval``.
        cat_ids (Sequence[int], optional): Category ids of the subset. Every
            id must be among the evaluated ``params.catIds``. ``None`` means
            all evaluated categories. Defaults to None.
        iou_thr (float, optional): A single IoU threshold (e.g. 0.5), or
            ``None`` for the average over all thresholds. Defaults to None.
        area_rng (str): Area range label: 'all', 'small', 'medium' or
            'large'. Defaults to 'all'.
        max_dets (int): Max detections per image setting. Defaults to 100.

    Returns:
        float: The AP on the 0-1 scale, or -1.0 when no category of the
        subset has ground truth.
    """
    if not coco_eval.eval:
        raise RuntimeError('run COCOeval.evaluate() and accumulate() first')
    params = coco_eval.eval['params']
    # the K axis follows params.catIds, which evaluate() sorts
    k_inds = None if cat_ids is None else _k_indices(params.catIds, cat_ids)
    return summarize_precision(coco_eval.eval['precision'], params.iouThrs,
                               params.areaRngLbl, params.maxDets, k_inds,
                               iou_thr, area_rng, max_dets)


def _k_indices(evaluated: Sequence[int], cat_ids: Sequence[int]) -> List[int]:
    """K-axis indices of ``cat_ids`` among the ``evaluated`` category ids
    (KeyError naming the ids that were not evaluated)."""
    k_of = {int(cat_id): k for k, cat_id in enumerate(evaluated)}
    missing = sorted(set(int(c) for c in cat_ids) - set(k_of))
    if missing:
        raise KeyError(f'category ids {missing} were not evaluated')
    return sorted(k_of[int(c)] for c in set(cat_ids))


@METRICS.register_module()
class GroupCocoMetric(CocoMetric):
    """COCO metric with AP over named class groups and LVIS frequencies.

    Accepts every argument of :class:`mmdet.evaluation.CocoMetric` (only the
    ``'bbox'`` and ``'segm'`` metrics) plus the keyword-only arguments below.
    See the module docstring for the returned keys.

    Args:
        *args: Positional arguments of ``CocoMetric``.
        class_groups (Mapping[str, Sequence[str]], optional): Group name ->
            class names (as in the dataset's ``classes``). Groups may
            overlap. Names are checked as early as possible: in ``__init__``
            against the categories of ``ann_file`` when it is given, when
            ``dataset_meta`` is set against its ``classes``, and at
            evaluation time against the evaluated categories. Defaults to
            None (no group).
        frequency_groups (bool): Report ``APr``/``APc``/``APf`` when the
            ground-truth categories carry LVIS ``frequency`` fields.
            Defaults to True.
        backend (str): ``'pycocotools'`` or ``'faster_coco_eval'`` (see
            :mod:`.eval_backends`). Defaults to 'pycocotools'.
        federated (bool): LVIS' federated evaluation (needs
            ``backend='faster_coco_eval'`` and an LVIS ``ann_file``).
            Defaults to False.
        max_dets_per_image (int): With ``federated``, the detections kept
            per image (over all categories) and the single maxDets setting
            (``proposal_nums`` is then ignored); LVIS' official value is
            300. Defaults to 300.
        max_eval_pairs (int, optional): Image x category pairs per
            evaluate call: above it the categories are evaluated in chunks
            (same result, bounded memory; see
            :func:`.eval_backends.run_evaluation`). None: one call.
            Defaults to ``MAX_EVAL_PAIRS`` (1 M).
        **kwargs: Keyword arguments of ``CocoMetric``.

    Attributes:
        raw_results (Dict[str, float]): The unrounded values of the last
            evaluation, keyed as the returned metrics (without prefix).
    """

    def __init__(self,
                 *args,
                 class_groups: Optional[Mapping[str, Sequence[str]]] = None,
                 frequency_groups: bool = True,
                 backend: str = 'pycocotools',
                 federated: bool = False,
                 max_dets_per_image: int = 300,
                 max_eval_pairs: Optional[int] = MAX_EVAL_PAIRS,
                 **kwargs) -> None:
        check_backend(backend, federated)
        super().__init__(*args, **kwargs)
        if self.use_mp_eval and backend != 'pycocotools':
            raise ValueError('use_mp_eval (mmdet\'s COCOevalMP) applies to '
                             'backend="pycocotools" only')
        self.backend = backend
        self.federated = federated
        self.max_eval_pairs = max_eval_pairs
        if federated:
            if int(max_dets_per_image) < 1:
                raise ValueError('max_dets_per_image must be >= 1, got '
                                 f'{max_dets_per_image}')
            self.proposal_nums = (int(max_dets_per_image), )
        unsupported = [m for m in self.metrics if m not in ('bbox', 'segm')]
        if unsupported:
            raise ValueError(
                f'GroupCocoMetric supports metric "bbox" and "segm", got '
                f'{unsupported}; use CocoMetric for proposal recall.')
        # KeyError for an item the evaluation cannot give
        summary_items(self.metric_items or (), self.proposal_nums)
        # a bare float or a list would break COCOeval / summarize's lookup
        self.iou_thrs = np.atleast_1d(np.asarray(self.iou_thrs, dtype=float))
        self.class_groups = self._normalize_groups(class_groups)
        self.frequency_groups = frequency_groups
        self.raw_results: Dict[str, float] = {}
        if self._coco_api is not None:
            _default_iscrowd(self._coco_api.dataset)
            if federated:
                check_federated_gt(self._coco_api.dataset)
            self._check_class_names(
                [c['name'] for c in self._coco_api.dataset['categories']],
                'the categories of ann_file')

    # ------------------------------------------------------------------ setup
    @staticmethod
    def _normalize_groups(
        class_groups: Optional[Mapping[str, Sequence[str]]]
    ) -> Dict[str, List[str]]:
        """Check the shape of ``class_groups``; drop repeated names."""
        if class_groups is None:
            return OrderedDict()
        if not isinstance(class_groups, Mapping):
            raise TypeError('class_groups must be a dict of group name -> '
                            f'list of class names, got {type(class_groups)}')
        groups = OrderedDict()
        for group, names in class_groups.items():
            if not isinstance(group, str) or not group:
                raise ValueError(f'group names must be non-empty strings, '
                                 f'got {group!r}')
            if isinstance(names, str) or not isinstance(names, Sequence):
                raise TypeError(f'class_groups[{group!r}] must be a list of '
                                f'class names, got {names!r}')
            if len(names) == 0:
                raise ValueError(f'class_groups[{group!r}] is empty')
            groups[group] = list(dict.fromkeys(names))
        return groups

    def _check_class_names(self, available: Sequence[str],
                           source: str) -> None:
        """Raise ValueError naming every group class not in ``available``."""
        resolve_class_groups(self.class_groups, available,
                             'GroupCocoMetric: class_groups', f'in {source}')

    @property
    def dataset_meta(self) -> Optional[dict]:
        """Optional[dict]: Meta info of the dataset; setting it checks the
        group class names against its ``classes``."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: Optional[dict]) -> None:
        if dataset_meta is not None and 'classes' in dataset_meta:
            self._check_class_names(dataset_meta['classes'],
                                    'dataset_meta["classes"]')
        self._dataset_meta = dataset_meta

    def _resolve_groups(
            self) -> Tuple[Dict[str, List[int]], Dict[str, List[int]]]:
        """Map the groups to the evaluated category ids.

        Returns:
            tuple[dict, dict]: ``{group: cat_ids}`` of ``class_groups`` and
            ``{'r'|'c'|'f': cat_ids}`` of the LVIS frequencies (empty when no
            evaluated category has a ``frequency`` field).
        """
        cats = self._coco_api.load_cats(self.cat_ids)
        name_to_id = {cat['name']: cat['id'] for cat in cats}
        self._check_class_names(list(name_to_id), 'the evaluated categories')
        groups = OrderedDict(
            (group, [name_to_id[n] for n in names])
            for group, names in self.class_groups.items())
        freqs: Dict[str, List[int]] = OrderedDict()
        if self.frequency_groups and any('frequency' in c for c in cats):
            for code in LVIS_FREQUENCIES:
                freqs[code] = [
                    c['id'] for c in cats if c.get('frequency') == code
                ]
        return groups, freqs

    # ------------------------------------------------------------- evaluation
    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Compute the overall, group and frequency metrics.

        Args:
            results (list): The processed results of each batch, as stored
                by ``CocoMetric.process``.

        Returns:
            Dict[str, float]: The metrics (see the module docstring).
        """
        logger: MMLogger = MMLogger.get_current_instance()
        gts, preds = zip(*results)
        tmp_dir = None
        if self.outfile_prefix is None:
            tmp_dir = tempfile.TemporaryDirectory()
            outfile_prefix = osp.join(tmp_dir.name, 'results')
        else:
            outfile_prefix = self.outfile_prefix
        self.raw_results = {}
        eval_results: Dict[str, float] = OrderedDict()
        try:
            if self._coco_api is None:
                logger.info('Converting ground truth to coco format...')
                self._coco_api = COCO(
                    self.gt_to_coco_json(gts, outfile_prefix=outfile_prefix))
            if self.cat_ids is None:
                self.cat_ids = self._coco_api.get_cat_ids(
                    cat_names=self.dataset_meta['classes'])
            if self.img_ids is None:
                self.img_ids = self._coco_api.get_img_ids()
            groups, freqs = self._resolve_groups()
            result_files = self.results2json(preds, outfile_prefix)
            if self.format_only:
                logger.info('results are saved in '
                            f'{osp.dirname(outfile_prefix)}')
                return eval_results
            for metric in self.metrics:
                if metric not in result_files:
                    raise KeyError(f'{metric} is not in results')
                arrays = self._evaluate(metric, result_files[metric], logger)
                raw = self._summarize(metric, arrays, groups, freqs,
                                      logger)
                self.raw_results.update(raw)
                eval_results.update(
                    (k, round(v, 3)) for k, v in raw.items())
        finally:
            if tmp_dir is not None:
                tmp_dir.cleanup()
        return eval_results

    def _evaluate(self, metric: str, result_file: str,
                  logger: MMLogger) -> EvalArrays:
        """Run the backend's ``evaluate`` + ``accumulate`` once."""
        mode = 'federated LVIS' if self.federated else 'COCO-style'
        logger.info(f'Evaluating {metric} ({mode}, {self.backend})...')
        predictions = load(result_file)
        check_finite_predictions(predictions, result_file)
        if metric == 'segm':
            # as CocoMetric: let the evaluator use the mask area, not the box's
            for pred in predictions:
                pred.pop('bbox', None)
        if not predictions:
            logger.warning(f'No {metric} predictions in the whole dataset.')
        arrays = run_evaluation(
            self.backend,
            self._coco_api.dataset,
            predictions,
            metric,
            cat_ids=self.cat_ids,
            img_ids=self.img_ids,
            max_dets=list(self.proposal_nums),
            iou_thrs=self.iou_thrs,
            federated=self.federated,
            use_mp_eval=self.use_mp_eval,
            pycocotools_gt=self._coco_api,
            max_pairs=self.max_eval_pairs)
        if self.backend == 'pycocotools' and arrays.log.strip():
            logger.info('\n' + arrays.log)
        return arrays

    def _summarize(self, metric: str, arrays: EvalArrays,
                   groups: Dict[str, List[int]], freqs: Dict[str, List[int]],
                   logger: MMLogger) -> Dict[str, float]:
        """Collect the unrounded metrics of one evaluation pass."""
        # which maxDets setting each summary uses: pycocotools' summarize
        # (also for faster_coco_eval, which reproduces its arrays), mmdet's
        # COCOevalMP and LVISEval read every AP at the last setting
        rule = 'last' if self.federated or self.use_mp_eval else 'coco'
        items = self.metric_items or _DEFAULT_ITEMS
        axes = (arrays.iou_thrs, arrays.area_labels, arrays.max_dets)

        def read(spec, k_inds: Optional[List[int]] = None) -> float:
            fn = summarize_precision if spec.ap else summarize_recall
            return fn(arrays.precision if spec.ap else arrays.recall, *axes,
                      k_inds, spec.iou_thr, spec.area, spec.max_dets)

        specs = summary_items(list(items) + ['mAP', 'mAP_50', 'mAP_75'],
                              arrays.max_dets, rule)
        raw: Dict[str, float] = OrderedDict()
        for item in items:
            raw[f'{metric}_{item}'] = read(specs[item])

        def aps(cat_ids: Sequence[int]) -> Tuple[float, float, float]:
            k_inds = _k_indices(arrays.cat_ids, cat_ids)
            return tuple(read(specs[i], k_inds)
                         for i in ('mAP', 'mAP_50', 'mAP_75'))

        if not (self.backend == 'pycocotools' and arrays.log.strip()):
            # no summarize() table of the whole evaluation: ours
            mode = 'federated LVIS, ' if self.federated else ''
            values = ', '.join(
                f'{item}={_fmt(raw[f"{metric}_{item}"], 1, "{:.3f}")}'
                for item in items)
            logger.info(f'{metric} ({mode}{self.backend}): {values}')

        summary = [('all', read(specs['mAP']))]
        for group, cat_ids in groups.items():
            ap, ap50, ap75 = aps(cat_ids)
            raw[f'{metric}_{group}_mAP'] = ap
            raw[f'{metric}_{group}_mAP_50'] = ap50
            raw[f'{metric}_{group}_mAP_75'] = ap75
            summary.append((group, ap))
        for code, cat_ids in freqs.items():
            key, name = LVIS_FREQUENCIES[code]
            raw[f'{metric}_{key}'] = read(specs['mAP'],
                                          _k_indices(arrays.cat_ids, cat_ids))
            summary.append((name, raw[f'{metric}_{key}']))

        if self.classwise:
            rows = [['category', 'groups', 'num_gt', 'AP', 'AP50', 'AP75']]
            num_gt = self._count_gt()
            for cat in self._coco_api.load_cats(self.cat_ids):
                ap, ap50, ap75 = aps([cat['id']])
                raw[f'{metric}_AP_{cat["name"]}'] = ap
                member = [g for g, ids in groups.items() if cat['id'] in ids]
                member += [
                    LVIS_FREQUENCIES[c][1] for c, ids in freqs.items()
                    if cat['id'] in ids
                ]
                rows.append([
                    cat['name'], ','.join(member) or '-',
                    str(num_gt[cat['id']])
                ] + [_fmt(v, 1, '{:.3f}') for v in (ap, ap50, ap75)])
            logger.info(f'{metric} per-class AP (n/a: no ground truth)\n' +
                        AsciiTable(rows).table)

        logger.info(f'{metric} AP (x100) ' +
                    ' / '.join(name for name, _ in summary) + ': ' +
                    ' / '.join(_fmt(v, 100, '{:.1f}') for _, v in summary))
        return raw

    def _count_gt(self) -> Counter:
        """Number of non-crowd ground-truth boxes per category id."""
        img_ids = set(self.img_ids)
        return Counter(
            ann['category_id'] for ann in self._coco_api.dataset.get(
                'annotations', [])
            if ann['image_id'] in img_ids and not ann.get('iscrowd', 0))


def _default_iscrowd(dataset: dict) -> None:
    """LVIS annotations have no ``iscrowd``; COCOeval needs it (0).

    The COCO index shares the annotation dicts, so this updates it too.
    """
    for ann in dataset.get('annotations', []):
        ann.setdefault('iscrowd', 0)


def _fmt(value: float, scale: float, fmt: str) -> str:
    """Format a metric value; ``-1`` (no ground truth) becomes ``n/a``."""
    return 'n/a' if value == -1 else fmt.format(value * scale)
