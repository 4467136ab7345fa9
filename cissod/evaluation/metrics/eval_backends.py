"""Evaluation backends of :class:`GroupCocoMetric`: one evaluate+accumulate
pass that yields the precision / recall arrays every summary is read from.

=====================  =====================================================
backend                what runs
=====================  =====================================================
``'pycocotools'``      pycocotools' ``COCOeval`` (mmdet's ``COCOevalMP``
                       with ``use_mp_eval``); COCO-style only
``'faster_coco_eval'`` faster-coco-eval's ``COCOeval_faster`` (C++
                       evaluate + accumulate); COCO-style, or the LVIS
                       federated protocol with ``federated=True``
=====================  =====================================================

Federated (LVIS) evaluation, as the official ``lvis`` package's ``LVISEval``:
per image, detections of a category that is neither annotated in the image
nor in its ``neg_category_ids`` are dropped; unmatched detections of a
category in its ``not_exhaustive_category_ids`` are ignored; at most
``max_dets_per_image`` (300) detections per image, over all categories; one
maxDets setting (the same number). The ``lvis`` package itself (0.5.3) uses
``np.float``, removed in numpy 1.24, and is unmaintained; faster-coco-eval
implements the same protocol, is maintained and depends only on numpy, so
it is the production path. The tests check it against ``lvis`` (with the
alias restored inside the test) and against an independent naive
implementation.
"""
import contextlib
import io
from typing import Callable, List, NamedTuple, Optional, Sequence

import numpy as np

from cissod_core.evaluation import limit_dets_per_image

#: Valid ``backend`` names.
BACKENDS = ('pycocotools', 'faster_coco_eval')

#: Default cap on image x category pairs per evaluate call. Both backends
#: keep per-pair state for every pair (about 1 KB each, measured: 1.2 M
#: pairs -> +1.1-1.3 GB), so LVIS v1 val (19,809 images x 1,203 classes)
#: in one call would need ~25 GB; chunks of categories bound it (~1 GB).
MAX_EVAL_PAIRS = 1_000_000


class EvalArrays(NamedTuple):
    """The accumulated result of one evaluation pass.

    Attributes:
        precision (np.ndarray): ``(T, R, K, A, M)``, -1 without ground truth.
        recall (np.ndarray): ``(T, K, A, M)``.
        cat_ids (List[int]): Category id of each K index (sorted).
        iou_thrs (np.ndarray): The T IoU thresholds.
        area_labels (List[str]): The A area range labels.
        max_dets (List[int]): The M max-detection settings (sorted).
        log (str): What the backend printed (pycocotools' summary table).
        evaluator (object): The backend's evaluator object (a list of
            them when the categories were evaluated in chunks).
    """
    precision: np.ndarray
    recall: np.ndarray
    cat_ids: List[int]
    iou_thrs: np.ndarray
    area_labels: List[str]
    max_dets: List[int]
    log: str
    evaluator: object


def check_backend(backend: str, federated: bool) -> None:
    """Raise a clear error for an unknown or unusable backend choice."""
    if backend not in BACKENDS:
        raise ValueError(f'unknown evaluation backend {backend!r}; valid '
                         f'backends: {", ".join(BACKENDS)}')
    if federated and backend != 'faster_coco_eval':
        raise ValueError(
            'federated (LVIS) evaluation needs backend="faster_coco_eval": '
            'pycocotools has no federated mode (and the lvis package 0.5.3 '
            'does not run on numpy >= 1.24)')
    if backend == 'faster_coco_eval':
        try:
            import faster_coco_eval  # noqa: F401
        except ImportError as err:
            raise ImportError(
                'backend="faster_coco_eval" needs the faster-coco-eval '
                'package: pip install "faster-coco-eval>=1.6,<2" (or pip '
                'install "cissod[eval]")') from err


def check_federated_gt(dataset: dict) -> None:
    """Raise unless ``dataset`` (a COCO-format dict) is LVIS-shaped: every
    image with ``neg_category_ids`` and ``not_exhaustive_category_ids``,
    every category with a ``frequency``."""
    missing_img = [img['id'] for img in dataset.get('images', [])
                   if 'neg_category_ids' not in img
                   or 'not_exhaustive_category_ids' not in img]
    missing_cat = [cat['id'] for cat in dataset.get('categories', [])
                   if 'frequency' not in cat]
    if missing_img or missing_cat:
        raise ValueError(
            'federated evaluation needs LVIS annotations (ann_file): images '
            'with neg_category_ids and not_exhaustive_category_ids, '
            f'categories with frequency; {len(missing_img)} images (e.g. '
            f'{missing_img[:3]}) and {len(missing_cat)} categories (e.g. '
            f'{missing_cat[:3]}) lack them')


def run_evaluation(backend: str,
                   gt_dataset: dict,
                   predictions: List[dict],
                   iou_type: str,
                   cat_ids: Sequence[int],
                   img_ids: Sequence[int],
                   max_dets: Sequence[int],
                   iou_thrs: np.ndarray,
                   federated: bool = False,
                   use_mp_eval: bool = False,
                   pycocotools_gt: Optional[object] = None,
                   log: Optional[Callable[[str], None]] = None,
                   max_pairs: Optional[int] = MAX_EVAL_PAIRS
                   ) -> EvalArrays:
    """Evaluate ``predictions`` once and return the accumulated arrays.

    Every (image, category) pair is evaluated exactly once. When
    ``len(img_ids) * len(cat_ids)`` exceeds ``max_pairs``, the categories
    are evaluated in chunks (sorted ids, ``max_pairs // len(img_ids)`` per
    chunk, each chunk with only its own annotations and detections) and the
    arrays concatenated on the K axis: per-category precision and recall
    do not depend on other categories (COCO's maxDets is per image and
    category; LVIS' per-image limit is applied before the split), so the
    result is the same as one call, with bounded memory.

    Args:
        backend (str): One of :data:`BACKENDS`.
        gt_dataset (dict): Ground truth in COCO format (LVIS fields for
            ``federated``); not modified except the ``ignore``/``iscrowd``
            bookkeeping the evaluators add.
        predictions (List[dict]): COCO result dicts (``image_id``,
            ``category_id``, ``score``, ``bbox`` or ``segmentation``).
        iou_type (str): 'bbox' or 'segm'.
        cat_ids (Sequence[int]): Evaluated category ids.
        img_ids (Sequence[int]): Evaluated image ids.
        max_dets (Sequence[int]): COCO maxDets settings; with ``federated``
            a single value, also the per-image limit.
        iou_thrs (np.ndarray): IoU thresholds.
        federated (bool): LVIS federated protocol. Defaults to False.
        use_mp_eval (bool): mmdet's ``COCOevalMP`` (pycocotools backend
            only). Defaults to False.
        pycocotools_gt (object, optional): A pycocotools ``COCO`` of
            ``gt_dataset`` to reuse. Defaults to None.
        log (Callable[[str], None], optional): Receives progress lines.
        max_pairs (int, optional): Image x category pairs per evaluate
            call; None for a single call. Defaults to
            :data:`MAX_EVAL_PAIRS`.

    Returns:
        EvalArrays: Precision, recall and their axes.
    """
    check_backend(backend, federated)
    max_dets = sorted(int(m) for m in max_dets)
    for ann in gt_dataset.get('annotations', []):
        ann.setdefault('iscrowd', 0)  # LVIS has none; COCOeval needs it
    if federated:
        if len(max_dets) != 1:
            raise ValueError('federated evaluation uses one maxDets value '
                             f'(the per-image limit), got {max_dets}')
        check_federated_gt(gt_dataset)
        predictions = limit_dets_per_image(predictions, max_dets[0])
    if use_mp_eval and backend != 'pycocotools':
        raise ValueError('use_mp_eval (mmdet\'s COCOevalMP) applies to '
                         'backend="pycocotools" only')
    cat_ids = sorted(int(c) for c in cat_ids)
    chunk = len(cat_ids)
    if max_pairs is not None and not use_mp_eval and img_ids:
        chunk = max(1, min(chunk, int(max_pairs) // len(img_ids)))
    if chunk >= len(cat_ids):
        return _run_backend(backend, gt_dataset, predictions, iou_type,
                            cat_ids, img_ids, max_dets, iou_thrs, federated,
                            use_mp_eval, pycocotools_gt, log)
    parts = []
    for ids, gt_part, dets_part in _split_by_category(
            gt_dataset, predictions, cat_ids, chunk):
        parts.append(
            _run_backend(backend, gt_part, dets_part, iou_type, ids, img_ids,
                         max_dets, iou_thrs, federated, False, None, log))
    first = parts[0]
    return first._replace(
        precision=np.concatenate([p.precision for p in parts], axis=2),
        recall=np.concatenate([p.recall for p in parts], axis=1),
        cat_ids=[c for p in parts for c in p.cat_ids],
        log='',  # the backends' own summaries cover one chunk each
        evaluator=[p.evaluator for p in parts])


def _split_by_category(gt_dataset: dict, predictions: List[dict],
                       cat_ids: List[int], chunk: int):
    """Yield ``(cat_ids, gt_dataset, predictions)`` per chunk of ``chunk``
    consecutive (sorted) category ids; images and categories are shared,
    annotations and predictions are split."""
    chunk_of = {c: i // chunk for i, c in enumerate(cat_ids)}
    n = (len(cat_ids) + chunk - 1) // chunk
    anns: List[list] = [[] for _ in range(n)]
    dets: List[list] = [[] for _ in range(n)]
    for ann in gt_dataset.get('annotations', []):
        if ann['category_id'] in chunk_of:
            anns[chunk_of[ann['category_id']]].append(ann)
    for det in predictions:
        if det['category_id'] in chunk_of:
            dets[chunk_of[det['category_id']]].append(det)
    for i in range(n):
        part = {k: v for k, v in gt_dataset.items() if k != 'annotations'}
        part['annotations'] = anns[i]
        yield cat_ids[i * chunk:(i + 1) * chunk], part, dets[i]


def _run_backend(backend, gt_dataset, predictions, iou_type, cat_ids,
                 img_ids, max_dets, iou_thrs, federated, use_mp_eval,
                 pycocotools_gt, log) -> EvalArrays:
    if backend == 'pycocotools':
        return _run_pycocotools(gt_dataset, predictions, iou_type, cat_ids,
                                img_ids, max_dets, iou_thrs, use_mp_eval,
                                pycocotools_gt)
    return _run_faster(gt_dataset, predictions, iou_type, cat_ids, img_ids,
                       max_dets, iou_thrs, federated, log)


def _arrays(ev, log_text: str) -> EvalArrays:
    p = ev.params
    return EvalArrays(
        precision=np.asarray(ev.eval['precision']),
        recall=np.asarray(ev.eval['recall']),
        cat_ids=[int(c) for c in p.catIds],
        iou_thrs=np.asarray(p.iouThrs),
        area_labels=list(p.areaRngLbl),
        max_dets=[int(m) for m in p.maxDets],
        log=log_text,
        evaluator=ev)


def _run_pycocotools(gt_dataset, predictions, iou_type, cat_ids, img_ids,
                     max_dets, iou_thrs, use_mp_eval, coco_gt) -> EvalArrays:
    from mmdet.datasets.api_wrappers import COCO, COCOeval, COCOevalMP
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if coco_gt is None:
            coco_gt = COCO()
            coco_gt.dataset = gt_dataset
            coco_gt.createIndex()
        if predictions:
            coco_dt = coco_gt.loadRes(predictions)
        else:  # loadRes fails on []; no detection at all -> AP 0
            coco_dt = COCO()
            coco_dt.dataset = dict(
                images=list(gt_dataset['images']),
                categories=list(gt_dataset['categories']),
                annotations=[])
            coco_dt.createIndex()
        eval_cls = COCOevalMP if use_mp_eval else COCOeval
        ev = eval_cls(coco_gt, coco_dt, iou_type)
        ev.params.catIds = list(cat_ids)
        ev.params.imgIds = list(img_ids)
        ev.params.maxDets = list(max_dets)
        ev.params.iouThrs = iou_thrs
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return _arrays(ev, out.getvalue())


def _run_faster(gt_dataset, predictions, iou_type, cat_ids, img_ids,
                max_dets, iou_thrs, federated, log) -> EvalArrays:
    from faster_coco_eval import COCO, COCOeval_faster
    lines: List[str] = []
    coco_gt = COCO(print_function=lines.append)
    coco_gt.dataset = gt_dataset
    coco_gt.createIndex()
    coco_dt = coco_gt.loadRes(predictions)
    ev = COCOeval_faster(coco_gt, coco_dt, iou_type,
                         print_function=lines.append, lvis_style=federated)
    ev.params.catIds = list(cat_ids)
    ev.params.imgIds = list(img_ids)
    ev.params.maxDets = list(max_dets)
    ev.params.iouThrs = np.asarray(iou_thrs, dtype=float)
    ev.evaluate()
    ev.accumulate()
    if log is not None:
        for line in lines:
            log(str(line))
    return _arrays(ev, '\n'.join(str(line) for line in lines))
