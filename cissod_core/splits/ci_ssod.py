"""Class-imbalanced semi-supervised (CI-SSOD) split construction.

Pure python + numpy (no mmdet import) so it can be reused on any COCO-format
annotation dict, e.g. the synthetic demo data or real COCO.

A CI-SSOD split of a fully annotated training set consists of

* a **labeled** set made of

  - a seeded random ``labeled_fraction`` sample of the images in which only
    *majority*-class boxes are kept (minority boxes are removed; such an image
    may end up with no box at all and is kept anyway), plus
  - a few **few-shot** images drawn (seeded) from the remaining images, which
    keep *all* their boxes, added until every minority class has at least
    ``min_minority_boxes`` labeled boxes;

* an **unlabeled** set with every other image and ``annotations: []``;
* an **unlabeled_gt** set: the unlabeled images with their true boxes, only
  meant for analysis (never for training).
"""
import copy
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import numpy as np

__all__ = ['build_ci_ssod_split', 'format_split_stats']

def _subset(coco: Mapping[str, Any], images: List[dict],
            annotations: List[dict]) -> Dict[str, Any]:
    """Build a COCO dict with the given images/annotations and shared keys."""
    out: Dict[str, Any] = {}
    if 'info' in coco:
        out['info'] = copy.deepcopy(coco['info'])
    if 'licenses' in coco:
        out['licenses'] = copy.deepcopy(coco['licenses'])
    out['images'] = copy.deepcopy(sorted(images, key=lambda im: im['id']))
    out['annotations'] = copy.deepcopy(
        sorted(annotations, key=lambda a: a['id']))
    out['categories'] = copy.deepcopy(coco['categories'])
    return out


def build_ci_ssod_split(
    coco: Mapping[str, Any],
    minority_classes: Sequence[str],
    labeled_fraction: float = 0.1,
    min_minority_boxes: int = 10,
    seed: int = 0,
) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
    """Split a fully annotated COCO dict into a CI-SSOD labeled/unlabeled set.

    Args:
        coco: COCO-format dict with ``images``, ``annotations`` and
            ``categories`` (``info``/``licenses`` are optional). Not modified.
        minority_classes: Names of the minority categories. Every other
            category is a majority category.
        labeled_fraction: Fraction of the images (rounded, at least one image
            when > 0) drawn as the majority-only labeled part.
        min_minority_boxes: Minimum number of labeled boxes every minority
            class must reach through the few-shot images.
        seed: Seed of ``numpy.random.default_rng``; the output only depends
            on it and on the *content* of ``coco`` (ids are sorted first).

    Returns:
        ``(labeled, unlabeled, unlabeled_gt, stats)``. The three COCO dicts
        keep ``info``/``licenses``/``categories`` and have images and
        annotations sorted by id (original ids are preserved, so boxes can be
        matched across files). ``stats`` is a JSON-serialisable dict::

            {
              'per_class': {name: {'category_id', 'group',
                                   'labeled_boxes', 'labeled_images',
                                   'unlabeled_boxes', 'unlabeled_images',
                                   'hidden_boxes', 'total_boxes'}},
              'num_images': {'total', 'labeled', 'majority_only',
                             'few_shot', 'unlabeled'},
              'majority_only_image_ids': [...],
              'few_shot_image_ids': [...],
              'params': {'labeled_fraction', 'min_minority_boxes', 'seed'},
            }

        ``group`` is ``'majority'`` or ``'minority'``; ``hidden_boxes`` are the
        minority boxes removed from majority-only labeled images (they are in
        neither output set).

    Raises:
        ValueError: On unknown minority class names (the message lists them
            and the available names), invalid arguments, or when a minority
            class does not have ``min_minority_boxes`` boxes outside the
            majority-only sample (the message names the class).
    """
    if not 0.0 <= labeled_fraction <= 1.0:
        raise ValueError(
            f'labeled_fraction must be in [0, 1], got {labeled_fraction}')
    if min_minority_boxes < 0:
        raise ValueError(
            f'min_minority_boxes must be >= 0, got {min_minority_boxes}')

    categories = sorted(coco['categories'], key=lambda c: c['id'])
    name_to_id = {c['name']: c['id'] for c in categories}
    id_to_name = {c['id']: c['name'] for c in categories}
    minority_names = list(dict.fromkeys(minority_classes))  # dedup, ordered
    unknown = [n for n in minority_names if n not in name_to_id]
    if unknown:
        raise ValueError(
            f'Unknown minority class name(s) {unknown}; available class '
            f'names: {[c["name"] for c in categories]}')
    minority_ids: Set[int] = {name_to_id[n] for n in minority_names}

    images = sorted(coco['images'], key=lambda im: im['id'])
    image_ids = [im['id'] for im in images]
    if len(set(image_ids)) != len(image_ids):
        raise ValueError('Duplicate image ids in the COCO dict')
    known_image_ids = set(image_ids)
    anns_by_img: Dict[Any, List[dict]] = {i: [] for i in image_ids}
    for ann in sorted(coco['annotations'], key=lambda a: a['id']):
        if ann['image_id'] not in known_image_ids:
            raise ValueError(f'Annotation {ann["id"]} refers to unknown '
                             f'image id {ann["image_id"]}')
        anns_by_img[ann['image_id']].append(ann)

    rng = np.random.default_rng(seed)
    n_img = len(images)
    n_major = int(round(labeled_fraction * n_img))
    if labeled_fraction > 0 and n_img > 0:
        n_major = max(1, n_major)
    n_major = min(n_major, n_img)
    picked = rng.choice(n_img, size=n_major, replace=False) if n_major else []
    majority_only_ids = sorted(image_ids[int(i)] for i in picked)
    majority_only_set = set(majority_only_ids)

    # ---- few-shot selection over the remaining images ----------------------
    pool = [i for i in image_ids if i not in majority_only_set]
    labeled_count = {c: 0 for c in minority_ids}
    pool_count = {c: 0 for c in minority_ids}
    img_minor: Dict[Any, Dict[int, int]] = {}
    for img_id in pool:
        cnt: Dict[int, int] = {}
        for ann in anns_by_img[img_id]:
            if ann['category_id'] in minority_ids:
                cnt[ann['category_id']] = cnt.get(ann['category_id'], 0) + 1
        if cnt:
            img_minor[img_id] = cnt
            for c, k in cnt.items():
                pool_count[c] += k
    for c in sorted(minority_ids):
        if pool_count[c] < min_minority_boxes:
            total = sum(1 for a in coco['annotations']
                        if a['category_id'] == c)
            raise ValueError(
                f'Minority class {id_to_name[c]!r} has only {pool_count[c]} '
                f'box(es) outside the majority-only labeled sample '
                f'({total} in the whole set); cannot reach '
                f'min_minority_boxes={min_minority_boxes}')

    few_shot_ids: List[Any] = []
    remaining = dict(pool_count)  # minority boxes still in the pool
    candidates = sorted(img_minor)  # pool images holding a minority box
    while True:
        deficient = [c for c in sorted(minority_ids)
                     if labeled_count[c] < min_minority_boxes]
        if not deficient:
            break
        # Serve the scarcest deficient class first (fewest boxes left in the
        # pool), drawing uniformly among the pool images that contain it.
        target = min(deficient, key=lambda c: (remaining[c], c))
        options = [i for i in candidates if target in img_minor[i]]
        if not options:  # unreachable after the feasibility check
            raise ValueError(
                f'Cannot reach min_minority_boxes={min_minority_boxes} for '
                f'minority class {id_to_name[target]!r}')
        chosen = options[int(rng.integers(len(options)))]
        few_shot_ids.append(chosen)
        candidates.remove(chosen)
        for c, k in img_minor[chosen].items():
            labeled_count[c] += k
            remaining[c] -= k
    few_shot_ids.sort()
    few_shot_set = set(few_shot_ids)

    # ---- assemble outputs ---------------------------------------------------
    labeled_ids = majority_only_set | few_shot_set
    labeled_anns: List[dict] = []
    hidden_anns: List[dict] = []
    for img_id in majority_only_ids:
        for ann in anns_by_img[img_id]:
            if ann['category_id'] in minority_ids:
                hidden_anns.append(ann)
            else:
                labeled_anns.append(ann)
    for img_id in few_shot_ids:
        labeled_anns.extend(anns_by_img[img_id])
    unlabeled_images = [im for im in images if im['id'] not in labeled_ids]
    unlabeled_gt_anns = [a for im in unlabeled_images
                         for a in anns_by_img[im['id']]]

    labeled = _subset(coco, [im for im in images if im['id'] in labeled_ids],
                      labeled_anns)
    unlabeled = _subset(coco, unlabeled_images, [])
    unlabeled_gt = _subset(coco, unlabeled_images, unlabeled_gt_anns)

    def _count(anns: List[dict]) -> Tuple[Dict[int, int], Dict[int, int]]:
        boxes: Dict[int, int] = {}
        imgs: Dict[int, Set[Any]] = {}
        for a in anns:
            boxes[a['category_id']] = boxes.get(a['category_id'], 0) + 1
            imgs.setdefault(a['category_id'], set()).add(a['image_id'])
        return boxes, {c: len(v) for c, v in imgs.items()}

    lab_boxes, lab_imgs = _count(labeled_anns)
    unl_boxes, unl_imgs = _count(unlabeled_gt_anns)
    hid_boxes, _ = _count(hidden_anns)
    per_class: Dict[str, Dict[str, Any]] = {}
    for c in categories:
        cid = c['id']
        per_class[c['name']] = dict(
            category_id=cid,
            group='minority' if cid in minority_ids else 'majority',
            labeled_boxes=lab_boxes.get(cid, 0),
            labeled_images=lab_imgs.get(cid, 0),
            unlabeled_boxes=unl_boxes.get(cid, 0),
            unlabeled_images=unl_imgs.get(cid, 0),
            hidden_boxes=hid_boxes.get(cid, 0),
            total_boxes=(lab_boxes.get(cid, 0) + unl_boxes.get(cid, 0) +
                         hid_boxes.get(cid, 0)),
        )
    stats = dict(
        per_class=per_class,
        num_images=dict(
            total=n_img,
            labeled=len(labeled_ids),
            majority_only=len(majority_only_ids),
            few_shot=len(few_shot_ids),
            unlabeled=len(unlabeled_images)),
        majority_only_image_ids=list(majority_only_ids),
        few_shot_image_ids=list(few_shot_ids),
        params=dict(
            labeled_fraction=labeled_fraction,
            min_minority_boxes=min_minority_boxes,
            seed=seed),
    )
    return labeled, unlabeled, unlabeled_gt, stats


def format_split_stats(
    stats: Mapping[str, Any],
    extra_columns: Optional[Mapping[str, Mapping[str, Any]]] = None,
) -> str:
    """Render split statistics as a readable fixed-width table.

    Args:
        stats: The ``stats`` dict returned by :func:`build_ci_ssod_split`.
        extra_columns: Optional additional columns, ``{header: {class_name:
            value}}`` (e.g. ``{'val_boxes': {...}}``); missing values print
            as ``-``. Integer columns are summed in the total row.

    Returns:
        A multi-line string (no trailing newline).
    """
    extra_columns = dict(extra_columns or {})
    per_class = stats['per_class']
    base_cols = [('labeled_boxes', 'lab_boxes'),
                 ('labeled_images', 'lab_imgs'),
                 ('unlabeled_boxes', 'unl_boxes'),
                 ('hidden_boxes', 'hidden')]
    headers = ['id', 'class', 'group'] + [h for _, h in base_cols] + list(
        extra_columns)
    rows: List[List[str]] = []
    totals: Dict[str, Any] = {}

    def _add(key: str, value: Any) -> None:
        if isinstance(value, (int, np.integer)) and not isinstance(
                value, bool):
            if totals.get(key, 0) is not None:
                totals[key] = totals.get(key, 0) + int(value)
        else:
            totals[key] = None

    for name, row in per_class.items():
        cells = [str(row.get('category_id', '')), name, row.get('group', '')]
        for key, _ in base_cols:
            value = row.get(key, '-')
            cells.append(str(value))
            _add(key, value)
        for header, col in extra_columns.items():
            value = col.get(name, '-')
            cells.append(str(value))
            _add(header, value)
        rows.append(cells)
    total_row = ['', 'TOTAL', '']
    for key in [k for k, _ in base_cols] + list(extra_columns):
        total_row.append('-' if totals.get(key) is None else str(totals[key]))

    all_rows = [headers] + rows + [total_row]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(headers))]

    def _fmt(cells: List[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            out.append(cell.ljust(widths[i]) if i in (1, 2) else
                       cell.rjust(widths[i]))
        return '  '.join(out).rstrip()

    sep = '-' * len(_fmt(headers))
    lines = [_fmt(headers), sep] + [_fmt(r) for r in rows] + [sep,
                                                              _fmt(total_row)]
    num = stats.get('num_images')
    if num and not {'majority_only', 'few_shot'} <= set(num):
        lines.append('images: ' + ' '.join(f'{k}={v}' for k, v in num.items()))
    elif num:
        lines.append(
            f"images: total={num['total']} labeled={num['labeled']} "
            f"(majority-only={num['majority_only']}, "
            f"few-shot={num['few_shot']}) unlabeled={num['unlabeled']}")
    return '\n'.join(lines)
