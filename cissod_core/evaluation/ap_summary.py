"""AP / AR summaries of accumulated COCO-style precision and recall arrays.

Both pycocotools' ``COCOeval.accumulate`` and faster-coco-eval (COCO and
LVIS federated mode) produce

* ``precision``: shape ``(T, R, K, A, M)`` -- IoU thresholds x recall
  thresholds x categories (sorted ids) x area ranges x max-detection
  settings; ``-1`` where a category has no ground truth;
* ``recall``: shape ``(T, K, A, M)``, ``-1`` likewise.

A summary value is the mean of the entries ``> -1`` of a slice (``-1`` if
there is none), as ``COCOeval.summarize`` and ``LVISEval.summarize`` do.
Slicing the K axis gives the AP of a group of categories, identical to a
separate evaluation restricted to that group (per-category precision does
not depend on the other categories), so every group comes from one pass.
"""
from collections import defaultdict
from typing import (
    Dict,
    Iterable,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
)

import numpy as np

#: Metric item names understood by :func:`summary_items`.
AP_ITEMS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')

_AREA_OF = {'': 'all', 's': 'small', 'm': 'medium', 'l': 'large'}


class SummaryItem(NamedTuple):
    """Where a summary value is read.

    Attributes:
        ap (bool): AP (precision array) or AR (recall array).
        iou_thr (float | None): One IoU threshold, or None for all.
        area (str): Area range label ('all', 'small', 'medium', 'large').
        max_dets (int): Max-detections setting.
    """
    ap: bool
    iou_thr: Optional[float]
    area: str
    max_dets: int


def mean_valid(values: np.ndarray) -> float:
    """Mean of the entries ``> -1``; ``-1.0`` when there is none."""
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else -1.0


def _thr_index(iou_thrs: np.ndarray, iou_thr: Optional[float]) -> np.ndarray:
    if iou_thr is None:
        return np.arange(len(iou_thrs))
    t = np.where(iou_thr == np.asarray(iou_thrs))[0]
    if t.size == 0:
        raise KeyError(f'IoU threshold {iou_thr} was not evaluated '
                       f'(thresholds {list(np.round(iou_thrs, 2))})')
    return t


def _single_index(labels: Sequence, value, what: str) -> int:
    labels = list(labels)
    if value not in labels:
        raise KeyError(f'{what} {value!r} was not evaluated (have {labels})')
    return labels.index(value)


def summarize_precision(precision: np.ndarray,
                        iou_thrs: np.ndarray,
                        area_labels: Sequence[str],
                        max_dets: Sequence[int],
                        k_inds: Optional[Sequence[int]] = None,
                        iou_thr: Optional[float] = None,
                        area: str = 'all',
                        max_det: int = 100) -> float:
    """AP over a subset of categories from a ``(T, R, K, A, M)`` array.

    Args:
        precision (np.ndarray): Accumulated precision, ``(T, R, K, A, M)``.
        iou_thrs (np.ndarray): The T IoU thresholds.
        area_labels (Sequence[str]): The A area range labels.
        max_dets (Sequence[int]): The M max-detection settings.
        k_inds (Sequence[int], optional): Indices on the K axis; None for
            all. Defaults to None.
        iou_thr (float, optional): One threshold, or None for the mean over
            all. Defaults to None.
        area (str): Area label. Defaults to 'all'.
        max_det (int): Max-detection setting. Defaults to 100.

    Returns:
        float: The AP (0-1), or -1.0 when no selected category has ground
        truth.
    """
    s = precision[_thr_index(iou_thrs, iou_thr)]
    if k_inds is not None:
        s = s[:, :, sorted(set(int(k) for k in k_inds))]
    a = _single_index(area_labels, area, 'area range')
    m = _single_index(max_dets, max_det, 'maxDets')
    return mean_valid(s[:, :, :, a, m])


def summarize_recall(recall: np.ndarray,
                     iou_thrs: np.ndarray,
                     area_labels: Sequence[str],
                     max_dets: Sequence[int],
                     k_inds: Optional[Sequence[int]] = None,
                     iou_thr: Optional[float] = None,
                     area: str = 'all',
                     max_det: int = 100) -> float:
    """AR over a subset of categories from a ``(T, K, A, M)`` array.

    Arguments as :func:`summarize_precision` (``recall`` instead of
    ``precision``).
    """
    s = recall[_thr_index(iou_thrs, iou_thr)]
    if k_inds is not None:
        s = s[:, sorted(set(int(k) for k in k_inds))]
    a = _single_index(area_labels, area, 'area range')
    m = _single_index(max_dets, max_det, 'maxDets')
    return mean_valid(s[:, :, a, m])


def summary_items(items: Iterable[str], max_dets: Sequence[int],
                  rule: str = 'coco') -> Dict[str, SummaryItem]:
    """Where each named metric item is read, under a summarize rule.

    Rules:

    * ``'coco'`` -- pycocotools' ``COCOeval.summarize`` with ``max_dets``
      sorted ``(m0, m1, m2)`` (mmdet: 100, 300, 1000): ``mAP`` at maxDets
      100, the other AP items at ``m2``; ``AR@<m>`` at ``m``;
      ``AR_<s|m|l>@<m2>`` at ``m2``.
    * ``'last'`` -- every AP item at ``max(max_dets)`` (mmdet's
      ``COCOevalMP.summarize``; LVIS' ``LVISEval.summarize`` with its single
      setting 300); AR items as for ``'coco'``.

    Args:
        items (Iterable[str]): Item names: ``mAP``, ``mAP_50``, ``mAP_75``,
            ``mAP_s``/``_m``/``_l``, ``AR@<n>``, ``AR_<s|m|l>@<n>``.
        max_dets (Sequence[int]): The evaluated max-detection settings.
        rule (str): 'coco' or 'last'. Defaults to 'coco'.

    Returns:
        Dict[str, SummaryItem]: Item name -> where it is read.

    Raises:
        KeyError: An unknown item, or an AR item whose maxDets was not
            evaluated.
    """
    if rule not in ('coco', 'last'):
        raise ValueError(f"rule must be 'coco' or 'last', got {rule!r}")
    dets = sorted(int(m) for m in max_dets)
    top = dets[-1]
    base = 100 if rule == 'coco' and 100 in dets else top
    thr_dets = dets[2] if rule == 'coco' and len(dets) > 2 else top
    out: Dict[str, SummaryItem] = {}
    for item in items:
        if item == 'mAP':
            out[item] = SummaryItem(True, None, 'all', base)
        elif item in ('mAP_50', 'mAP_75'):
            out[item] = SummaryItem(True, int(item[-2:]) / 100, 'all',
                                    thr_dets)
        elif item in ('mAP_s', 'mAP_m', 'mAP_l'):
            out[item] = SummaryItem(True, None, _AREA_OF[item[-1]],
                                    thr_dets)
        elif item.startswith('AR') and '@' in item:
            head, _, num = item.partition('@')
            area = _AREA_OF.get(head[3:] if head.startswith('AR_') else
                                ('' if head == 'AR' else '?'))
            if area is None or not num.isdigit() or int(num) not in dets:
                raise KeyError(f'metric item {item!r} is not available with '
                               f'maxDets {dets}')
            out[item] = SummaryItem(False, None, area, int(num))
        else:
            raise KeyError(f'metric item {item!r} is not supported; valid: '
                           f'{list(AP_ITEMS)} and AR@<n> / AR_<s|m|l>@<n> '
                           f'for n in {dets}')
    return out


def limit_dets_per_image(dets: Sequence[Mapping], max_dets: int) -> List:
    """Keep the ``max_dets`` highest-scoring detections of every image.

    The LVIS protocol's limit (300): over all categories of an image, not
    per category as COCO's maxDets. Ties keep the input order (stable).

    Args:
        dets (Sequence[Mapping]): Detections with ``image_id`` and ``score``.
        max_dets (int): Per-image limit; negative keeps everything.

    Returns:
        list: The kept detections, grouped by image in first-seen order.
    """
    if max_dets < 0:
        return list(dets)
    by_img: Dict[int, list] = defaultdict(list)
    for det in dets:
        by_img[det['image_id']].append(det)
    kept = []
    for img_dets in by_img.values():
        if len(img_dets) > max_dets:
            img_dets = sorted(img_dets, key=lambda d: -d['score'])[:max_dets]
        kept.extend(img_dets)
    return kept
