"""Synthetic COCO- / LVIS-shaped ground truth and detections (numpy only).

For evaluation benchmarks (``bench/bench_eval.py``) and test fixtures:
long-tailed class popularity, boxes of all COCO area ranges, imperfect
detections (jittered true positives, duplicates, false positives), and
with ``lvis=True`` the LVIS fields: per image ``neg_category_ids`` and
``not_exhaustive_category_ids``, per category ``frequency``; detections of
unverified categories (dropped by the federated protocol), of negative
categories (false positives) and of not-exhaustive ones (ignored when
unmatched). Boxes are multiples of 0.5 px and scores float32 values, so a
round trip through float32 tensors (mmdet's predictions) is exact.
"""
from typing import List, Sequence, Tuple

import numpy as np

W, H = 640, 480


def _frequencies(num_classes: int) -> List[str]:
    """LVIS v1-like split by popularity rank: 34 % f, 38 % c, 28 % r."""
    n_f = int(round(0.34 * num_classes))
    n_c = int(round(0.38 * num_classes))
    return ['f'] * n_f + ['c'] * n_c + ['r'] * (num_classes - n_f - n_c)


def _boxes(rng: np.random.RandomState, n: int) -> np.ndarray:
    """``(n, 4)`` xywh boxes, side 6-320 px log-uniform, inside the image,
    multiples of 0.5."""
    wh = np.exp(rng.uniform(np.log(6), np.log(320), size=(n, 2)))
    xy = rng.uniform(0, 1, size=(n, 2)) * ([W, H] - wh)
    return np.round(np.hstack([xy, wh]) * 2) / 2


def _jitter(rng: np.random.RandomState, boxes: np.ndarray,
            scale: float) -> np.ndarray:
    d = rng.normal(0, scale, size=boxes.shape) * boxes[:, [2, 3, 2, 3]]
    out = boxes + d
    out[:, 2:] = np.maximum(out[:, 2:], 1.0)
    return np.round(out * 2) / 2


def make_detection_set(num_images: int,
                       num_classes: int,
                       lvis: bool = False,
                       seed: int = 0,
                       gt_per_image: float = 7.0,
                       fp_per_image: int = 60,
                       crowded_images: Sequence[int] = (),
                       crowded_dets: int = 400,
                       empty_fraction: float = 0.05,
                       first_id: int = 1) -> Tuple[dict, List[dict]]:
    """Ground truth (COCO / LVIS json dict) and COCO-format detections.

    Args:
        num_images (int): Images (ids ``first_id ...``).
        num_classes (int): Categories (ids ``3 i + 1``: not contiguous).
        lvis (bool): LVIS-shaped (federated fields, ``frequency``, no
            ``iscrowd``). Defaults to False.
        seed (int): Random seed. Defaults to 0.
        gt_per_image (float): Mean boxes per non-empty image (Poisson).
        fp_per_image (int): Background false positives per image.
        crowded_images (Sequence[int]): Indices of images that get
            ``crowded_dets`` extra high-scoring false positives (beyond
            LVIS' 300 per image).
        crowded_dets (int): See above. Defaults to 400.
        empty_fraction (float): Images without any annotation.
        first_id (int): Id of the first image. Defaults to 1.

    Returns:
        tuple[dict, list[dict]]: ``gt`` with ``images``, ``annotations``,
        ``categories``; detections with ``image_id``, ``category_id``,
        ``bbox`` (xywh), ``score``.
    """
    rng = np.random.RandomState(seed)
    cat_ids = [3 * i + 1 for i in range(num_classes)]
    # Zipf-like popularity: head classes much more frequent than the tail
    popularity = 1.0 / np.arange(1, num_classes + 1)**(1.0 if lvis else 0.5)
    popularity /= popularity.sum()
    freqs = _frequencies(num_classes)
    categories = []
    for i, cat_id in enumerate(cat_ids):
        cat = dict(id=cat_id, name=f'class_{i}', supercategory='thing')
        if lvis:
            cat['frequency'] = freqs[i]
        categories.append(cat)
    crowded = set(int(i) for i in crowded_images)
    images, anns, dets = [], [], []
    for i in range(num_images):
        img_id = first_id + i
        img = dict(id=img_id, width=W, height=H, file_name=f'{img_id}.jpg')
        n_gt = 0 if rng.rand() < empty_fraction else max(
            1, rng.poisson(gt_per_image))
        labels = rng.choice(num_classes, size=n_gt, p=popularity)
        boxes = _boxes(rng, n_gt)
        for label, box in zip(labels, boxes):
            ann = dict(id=len(anns) + 1, image_id=img_id,
                       category_id=cat_ids[label], bbox=box.tolist(),
                       area=float(box[2] * box[3]))
            if not lvis:
                ann['iscrowd'] = 0
            anns.append(ann)
        pos = sorted(set(labels.tolist()))
        verified = list(pos)
        if lvis:
            others = np.setdiff1d(np.arange(num_classes), pos)
            n_neg = min(len(others), rng.poisson(4))
            neg = rng.choice(others, size=n_neg, replace=False).tolist()
            img['neg_category_ids'] = sorted(cat_ids[c] for c in neg)
            img['not_exhaustive_category_ids'] = sorted(
                cat_ids[c] for c in pos if rng.rand() < 0.15)
            verified += neg
        images.append(img)

        # detections: found ground truth (tail classes less often, looser,
        # lower scores), duplicates, confusions, background
        rank = labels / max(num_classes - 1, 1)
        found = rng.rand(n_gt) < 0.85 - 0.45 * rank
        noise = 0.04 + 0.08 * rank[found, None]
        d_boxes = [_jitter(rng, boxes[found], noise)]
        d_labels = [labels[found]]
        d_scores = [rng.uniform(0.3, 1.0, found.sum()) * (1 - 0.4 *
                                                          rank[found])]
        dup = rng.rand(n_gt) < 0.15
        d_boxes.append(_jitter(rng, boxes[dup], 0.1))
        d_labels.append(labels[dup])
        d_scores.append(rng.uniform(0.05, 0.6, dup.sum()))
        n_fp = fp_per_image + (crowded_dets if i in crowded else 0)
        fp_labels = rng.choice(num_classes, size=n_fp, p=popularity)
        if verified:  # a third of them on verified categories of the image
            on_ver = rng.rand(n_fp) < 1 / 3
            fp_labels[on_ver] = rng.choice(verified, size=on_ver.sum())
        d_boxes.append(_boxes(rng, n_fp))
        d_labels.append(fp_labels)
        hi = 0.5 if i in crowded else 0.0
        d_scores.append(rng.uniform(hi, hi + 0.5, n_fp))
        for box, label, score in zip(
                np.concatenate(d_boxes), np.concatenate(d_labels),
                np.concatenate(d_scores)):
            dets.append(dict(image_id=img_id, category_id=cat_ids[label],
                             bbox=[float(v) for v in box],
                             score=float(np.float32(score))))
    gt = dict(images=images, annotations=anns, categories=categories)
    return gt, dets
