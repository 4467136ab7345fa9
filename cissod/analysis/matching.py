"""Greedy per-class matching of detections (pseudo labels) to ground truth."""
from typing import Dict, Sequence

import numpy as np

__all__ = ['box_iou', 'greedy_match', 'precision_recall']


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU ``(len(a), len(b))`` of xyxy boxes (area in continuous
    coordinates, like mmdet's ``bbox_overlaps``)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    area_a = (a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0)
    area_b = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clip(0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def greedy_match(boxes: np.ndarray, scores: np.ndarray, gt_boxes: np.ndarray,
                 iou_thr: float = 0.5) -> np.ndarray:
    """Boolean ``(len(boxes),)``: true positives of ONE class in ONE image.

    Detections are visited by decreasing score (ties: input order); each
    takes the still unmatched ground-truth box of highest IoU when that IoU
    is ``>= iou_thr``. So true positives = matched ground-truth boxes."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    tp = np.zeros(len(boxes), dtype=bool)
    gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0 or len(gt_boxes) == 0:
        return tp
    ious = box_iou(boxes, gt_boxes)
    taken = np.zeros(len(gt_boxes), dtype=bool)
    for i in np.argsort(-np.asarray(scores, dtype=np.float64), kind='stable'):
        row = np.where(taken, -1.0, ious[i])
        j = int(row.argmax())
        if row[j] >= iou_thr:
            tp[i] = True
            taken[j] = True
    return tp


def precision_recall(num_tp: Sequence[int], num_pred: Sequence[int],
                     num_gt: Sequence[int]) -> Dict[str, list]:
    """Per-entry precision ``tp / pred`` and recall ``tp / gt`` (None where
    the denominator is 0)."""
    prec = [t / p if p else None for t, p in zip(num_tp, num_pred)]
    rec = [t / g if g else None for t, g in zip(num_tp, num_gt)]
    return dict(precision=prec, recall=rec)
