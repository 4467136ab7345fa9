"""Split builders of the CI-SSOD benchmark (docs/benchmark.md).

Pure python + numpy (no mmdet import), operating on annotation dicts loaded
from the public json files:

* **COCO split1 / split2** (:func:`build_coco_split`): a thin wrapper of
  :func:`~cissod_core.splits.ci_ssod.build_ci_ssod_split` with the
  benchmark's minority classes.
* **COCO -> Objects365** (:func:`build_coco_to_o365_mapping`,
  :func:`build_coco2o365_split`): all of COCO train2017 relabelled into the
  365 Objects365 classes plus a few fully labelled Objects365 images;
  the rest of Objects365 train is unlabeled.
* **LVIS v1** (:func:`build_lvis_split`): a seeded sample of 9,946 fully
  labelled images, the rest unlabeled.
* :func:`validate_split` checks split files made elsewhere (e.g. the
  authors' released ones) and computes the same statistics.

Every builder is deterministic: its output depends only on the seed and the
*content* of the input (images and annotations are sorted by id first).
It returns ``(labeled, unlabeled, unlabeled_gt, stats)`` where
``unlabeled`` has ``annotations: []``, ``unlabeled_gt`` has the true boxes
of the unlabeled images (for analysis only, never for training) and
``stats`` has the layout of :func:`build_ci_ssod_split`'s stats (so
:func:`format_split_stats` prints it).

The large builders (Objects365, LVIS) do not deep-copy the input: the
output dicts are new, but unmodified image/annotation/category dicts are
shared with the input (which itself is never modified).
"""
import json
import os.path as osp
import re
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
)

import numpy as np

from .ci_ssod import build_ci_ssod_split

__all__ = [
    'COCO_CLASSES', 'COCO_SPLIT1_MINORITY', 'COCO_SPLIT2_MINORITY',
    'COCO_SPLITS', 'COCO_TO_O365_ALIASES', 'DEFAULT_COCO_TO_O365_FILE',
    'LVIS_FREQUENCY_GROUPS', 'O365_V2_MISSING_IMAGES', 'build_coco_split',
    'derive_coco_to_o365_names', 'load_coco_to_o365_names',
    'build_coco_to_o365_mapping', 'build_coco2o365_split',
    'build_lvis_split', 'validate_split'
]

Progress = Optional[Callable[[Iterable, str], Iterable]]

# The 80 COCO classes in mmdet's order (``CocoDataset.METAINFO['classes']``,
# i.e. by increasing COCO category id).
COCO_CLASSES: Tuple[str, ...] = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train',
    'truck', 'boat', 'traffic light', 'fire hydrant', 'stop sign',
    'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
    'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella',
    'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard',
    'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard',
    'surfboard', 'tennis racket', 'bottle', 'wine glass', 'cup', 'fork',
    'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
    'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair',
    'couch', 'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop',
    'mouse', 'remote', 'keyboard', 'cell phone', 'microwave', 'oven',
    'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors',
    'teddy bear', 'hair drier', 'toothbrush')

# Split 1: minority = the 20 PASCAL VOC classes (COCO names).
COCO_SPLIT1_MINORITY: Tuple[str, ...] = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train',
    'boat', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow', 'bottle', 'chair',
    'couch', 'potted plant', 'dining table', 'tv')

# Split 2: 40 minority classes.
COCO_SPLIT2_MINORITY: Tuple[str, ...] = (
    'airplane', 'bus', 'boat', 'traffic light', 'fire hydrant',
    'parking meter', 'bird', 'cat', 'horse', 'sheep', 'cow', 'elephant',
    'zebra', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee', 'skis',
    'snowboard', 'baseball glove', 'wine glass', 'banana', 'apple',
    'sandwich', 'broccoli', 'hot dog', 'pizza', 'bed', 'dining table', 'tv',
    'mouse', 'remote', 'keyboard', 'oven', 'refrigerator', 'book', 'vase',
    'hair drier', 'toothbrush')

COCO_SPLITS: Dict[str, Tuple[str, ...]] = {
    'split1': COCO_SPLIT1_MINORITY,
    'split2': COCO_SPLIT2_MINORITY,
}

# COCO names whose Objects365 counterpart is not found by name
# normalisation (or must not be). Values: candidate Objects365 names, tried
# in order (Objects365 v2 spelling first, then v1's), or ``None`` for "no
# counterpart". Written from the Objects365 v2 class list (as shipped in
# mmdet's ``Objects365V2Dataset``, typos included: 'Moniter/TV',
# 'Dinning Table'); check it against the real annotation file: the builder
# prints every mapping and every unmatched class.
COCO_TO_O365_ALIASES: Dict[str, Optional[Tuple[str, ...]]] = {
    'sports ball': None,  # O365 splits it into Soccer, Basketball, ...
    'bird': ('Wild Bird', 'wild bird'),
    'bear': ('Bear', 'bear'),
    'teddy bear': ('Bear', ),  # the benchmark definition: both bears -> Bear
    'suitcase': ('Luggage', 'luggage'),
    'skis': ('Skiboard', ),
    'hair drier': ('Hair Dryer', 'hair drier'),
    'dining table': ('Dinning Table', 'Dining Table', 'dining table'),
    'tv': ('Moniter/TV', 'Monitor/TV', 'tv'),
    'handbag': ('Handbag/Satchel', 'handbag'),
    'bowl': ('Bowl/Basin', 'bowl'),
    'orange': ('Orange/Tangerine', 'orange'),
    'motorcycle': ('Motorcycle', ),
    'couch': ('Couch', ),
    'potted plant': ('Potted Plant', ),
}

# The mapping file kept in the repository (COCO name -> Objects365 name or
# null), generated by ``tools/make_splits.py coco2o365 --write-mapping``.
DEFAULT_COCO_TO_O365_FILE = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'data',
    'coco_to_objects365.json')

LVIS_FREQUENCY_GROUPS = {'r': 'rare', 'c': 'common', 'f': 'frequent'}

# Objects365 v2 train images listed in the annotations but missing from the
# image archive (``<patch dir>/<file>``; mmdet's ``Objects365V2Dataset``
# skips the same three). They are never drawn into the labeled sample.
O365_V2_MISSING_IMAGES: Tuple[str, ...] = (
    'patch16/objects365_v2_00908726.jpg',
    'patch6/objects365_v1_00320532.jpg',
    'patch6/objects365_v1_00320534.jpg',
)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _identity(it: Iterable, desc: str) -> Iterable:
    return it


def _index(data: Mapping[str, Any], what: str,
           progress: Progress = None) -> Tuple[List[dict], Dict[Any, list]]:
    """Images sorted by id and their annotations (sorted by id) per image."""
    progress = progress or _identity
    images = sorted(data['images'], key=lambda im: im['id'])
    ids = [im['id'] for im in images]
    if len(set(ids)) != len(ids):
        raise ValueError(f'Duplicate image ids in {what}')
    anns_by_img: Dict[Any, list] = {i: [] for i in ids}
    for ann in progress(sorted(data['annotations'], key=lambda a: a['id']),
                        f'index {what}'):
        try:
            anns_by_img[ann['image_id']].append(ann)
        except KeyError:
            raise ValueError(f'{what}: annotation {ann["id"]} refers to '
                             f'unknown image id {ann["image_id"]}') from None
    return images, anns_by_img


def _header(data: Mapping[str, Any], images: List[dict], anns: List[dict],
            categories: List[dict]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key in ('info', 'licenses'):
        if key in data:
            out[key] = data[key]
    out['images'] = images
    out['annotations'] = anns
    out['categories'] = categories
    return out


def _seeded_sample(n: int, k: int, seed: int) -> List[int]:
    """``k`` sorted distinct indices of ``range(n)`` drawn with ``seed``."""
    if not 0 <= k <= n:
        raise ValueError(f'cannot sample {k} of {n} images')
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(n, size=k, replace=False))


def _per_class_stats(categories: Sequence[Mapping[str, Any]],
                     group_of: Callable[[Mapping[str, Any]], str],
                     labeled_anns: Iterable[dict],
                     unlabeled_anns: Iterable[dict],
                     hidden: Optional[Mapping[Any, int]] = None,
                     extra: Optional[Mapping[str, Mapping[Any, int]]] = None
                     ) -> Dict[str, Dict[str, Any]]:
    """Per-class statistics in :func:`build_ci_ssod_split`'s format."""

    def _count(anns):
        boxes: Dict[Any, int] = {}
        imgs: Dict[Any, Set[Any]] = {}
        for a in anns:
            c = a['category_id']
            boxes[c] = boxes.get(c, 0) + 1
            imgs.setdefault(c, set()).add(a['image_id'])
        return boxes, {c: len(v) for c, v in imgs.items()}

    lab_b, lab_i = _count(labeled_anns)
    unl_b, unl_i = _count(unlabeled_anns)
    hidden = hidden or {}
    per_class: Dict[str, Dict[str, Any]] = {}
    for c in sorted(categories, key=lambda c: c['id']):
        cid = c['id']
        row = dict(
            category_id=cid,
            group=group_of(c),
            labeled_boxes=lab_b.get(cid, 0),
            labeled_images=lab_i.get(cid, 0),
            unlabeled_boxes=unl_b.get(cid, 0),
            unlabeled_images=unl_i.get(cid, 0),
            hidden_boxes=int(hidden.get(cid, 0)),
        )
        row['total_boxes'] = (row['labeled_boxes'] + row['unlabeled_boxes'] +
                              row['hidden_boxes'])
        for key, col in (extra or {}).items():
            row[key] = int(col.get(cid, 0))
        per_class[c['name']] = row
    return per_class


# ---------------------------------------------------------------------------
# COCO split1 / split2
# ---------------------------------------------------------------------------
def build_coco_split(
    coco: Mapping[str, Any],
    split: str,
    seed: int = 1,
    labeled_fraction: float = 0.1,
    min_minority_boxes: int = 10,
) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
    """COCO split1 / split2 of the CI-SSOD benchmark.

    Args:
        coco: COCO train2017 annotations (``instances_train2017.json``).
        split: ``'split1'`` (minority = the 20 VOC classes) or ``'split2'``
            (:data:`COCO_SPLIT2_MINORITY`).
        seed: Seed of the sampling.
        labeled_fraction: Fraction of the images in the majority-only
            labeled sample.
        min_minority_boxes: Few-shot minimum of labeled boxes per minority
            class.

    Returns:
        ``(labeled, unlabeled, unlabeled_gt, stats)`` of
        :func:`build_ci_ssod_split`; ``stats['params']`` also records the
        split name.

    Raises:
        ValueError: Unknown split, or a minority class name missing from
            ``coco['categories']`` (listed).
    """
    if split not in COCO_SPLITS:
        raise ValueError(f'Unknown COCO split {split!r}; choose one of '
                         f'{sorted(COCO_SPLITS)}')
    labeled, unlabeled, unlabeled_gt, stats = build_ci_ssod_split(
        coco, COCO_SPLITS[split], labeled_fraction=labeled_fraction,
        min_minority_boxes=min_minority_boxes, seed=seed)
    stats['params']['split'] = split
    return labeled, unlabeled, unlabeled_gt, stats


# ---------------------------------------------------------------------------
# COCO -> Objects365 class mapping
# ---------------------------------------------------------------------------
def _normalise(name: str) -> str:
    """Lowercase, drop everything but letters/digits, crude singular."""
    s = re.sub(r'[^0-9a-z]', '', name.lower())
    if len(s) > 3 and s.endswith('s') and not s.endswith('ss'):
        s = s[:-1]
    return s


def _name_keys(name: str) -> List[str]:
    """Normalised forms of an Objects365 name: whole and '/'-parts."""
    keys = [_normalise(name)]
    if '/' in name:
        keys += [_normalise(p) for p in name.split('/') if p.strip()]
    return keys


def _resolve_o365_name(name: str, o365_names: Sequence[str]) -> Optional[str]:
    """The Objects365 name equal to ``name`` (exactly, else normalised)."""
    if name in o365_names:
        return name
    hits = [n for n in o365_names if _normalise(n) == _normalise(name)]
    return hits[0] if len(hits) == 1 else None


def derive_coco_to_o365_names(
    coco_names: Sequence[str],
    o365_names: Sequence[str],
    aliases: Optional[Mapping[str, Optional[Sequence[str]]]] = None,
) -> Tuple[Dict[str, Optional[str]], Dict[str, str]]:
    """Match COCO class names to Objects365 class names.

    A COCO name in ``aliases`` takes the first alias candidate present in
    ``o365_names`` (``None`` = no counterpart). Otherwise the names are
    compared after normalisation (case, punctuation, spaces, a trailing
    plural 's'), the whole Objects365 name first, then its '/'-separated
    parts ('Handbag/Satchel' matches 'handbag').

    Args:
        coco_names: COCO class names.
        o365_names: Objects365 class names (from the annotation file).
        aliases: Defaults to :data:`COCO_TO_O365_ALIASES`.

    Returns:
        ``(names, how)``: ``names[coco] = o365 name or None`` (in
        ``coco_names`` order) and ``how[coco]`` in ``'exact'``,
        ``'normalised'``, ``'alias'``, ``'no counterpart (alias)'``,
        ``'alias not found'``, ``'no match'``, ``'ambiguous: [...]'``.
    """
    aliases = COCO_TO_O365_ALIASES if aliases is None else aliases
    o365_names = list(o365_names)
    names: Dict[str, Optional[str]] = {}
    how: Dict[str, str] = {}
    for coco_name in coco_names:
        if coco_name in aliases:
            cands = aliases[coco_name]
            if cands is None:
                names[coco_name], how[coco_name] = None, \
                    'no counterpart (alias)'
                continue
            found = None
            for cand in cands:
                found = _resolve_o365_name(cand, o365_names)
                if found is not None:
                    break
            names[coco_name] = found
            how[coco_name] = 'alias' if found else 'alias not found'
            continue
        key = _normalise(coco_name)
        whole = [n for n in o365_names if _normalise(n) == key]
        parts = [n for n in o365_names if key in _name_keys(n)[1:]]
        hits = whole or parts
        if len(hits) == 1:
            names[coco_name] = hits[0]
            how[coco_name] = 'exact' if hits[0] == coco_name else 'normalised'
        else:
            names[coco_name] = None
            how[coco_name] = f'ambiguous: {hits}' if hits else 'no match'
    return names, how


def load_coco_to_o365_names(
        path: Optional[str] = None) -> Dict[str, Optional[str]]:
    """Load the COCO name -> Objects365 name table (json, null = none).

    Args:
        path: Defaults to :data:`DEFAULT_COCO_TO_O365_FILE`
            (``data/coco_to_objects365.json`` in the repository).
    """
    path = path or DEFAULT_COCO_TO_O365_FILE
    with open(path) as f:
        table = json.load(f)
    if not isinstance(table, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str))
            for k, v in table.items()):
        raise ValueError(f'{path}: expected a json object mapping COCO '
                         'class names to Objects365 names or null')
    return table


def build_coco_to_o365_mapping(
    coco_categories: Sequence[Mapping[str, Any]],
    o365_categories: Sequence[Mapping[str, Any]],
    name_mapping: Optional[Mapping[str, Optional[str]]] = None,
) -> Tuple[Dict[Any, Any], List[str], str]:
    """Map COCO category ids to Objects365 category ids.

    Args:
        coco_categories: ``categories`` of the COCO annotation file.
        o365_categories: ``categories`` of the Objects365 annotation file.
        name_mapping: COCO name -> Objects365 name (or ``None``), e.g.
            :func:`load_coco_to_o365_names`; it must list every COCO class.
            When ``None``, the names are matched by
            :func:`derive_coco_to_o365_names`.

    Returns:
        ``(mapping, unmatched, report)``: ``mapping[coco_cat_id] =
        o365_cat_id`` for every matched class, the COCO names without a
        counterpart (in COCO id order) and a human-readable report with one
        line per COCO class.

    Raises:
        ValueError: When ``name_mapping`` misses COCO classes, names classes
            that are not COCO categories, or maps to names that are not
            Objects365 categories (all listed).
    """
    coco_cats = sorted(coco_categories, key=lambda c: c['id'])
    o365_cats = sorted(o365_categories, key=lambda c: c['id'])
    coco_names = [c['name'] for c in coco_cats]
    o365_names = [c['name'] for c in o365_cats]
    o365_id = {c['name']: c['id'] for c in o365_cats}
    if name_mapping is None:
        names, how = derive_coco_to_o365_names(coco_names, o365_names)
    else:
        missing = [n for n in coco_names if n not in name_mapping]
        extra = [n for n in name_mapping if n not in coco_names]
        if missing or extra:
            raise ValueError(
                'The COCO -> Objects365 name mapping does not match the COCO '
                f'categories: missing COCO classes {missing}; names that are '
                f'not COCO categories {extra}')
        names, how, bad = {}, {}, []
        for n in coco_names:
            target = name_mapping[n]
            if target is None:
                names[n], how[n] = None, 'no counterpart (mapping file)'
                continue
            found = _resolve_o365_name(target, o365_names)
            if found is None:
                bad.append(f'{n!r} -> {target!r}')
            names[n], how[n] = found, 'mapping file'
        if bad:
            raise ValueError(
                'Objects365 class name(s) of the mapping not found in the '
                f'Objects365 categories: {bad}. Fix the mapping file or '
                'regenerate it with `tools/make_splits.py coco2o365 '
                '--write-mapping`.')
    mapping = {}
    unmatched = []
    lines = []
    for c in coco_cats:
        target = names[c['name']]
        if target is None:
            unmatched.append(c['name'])
            lines.append(f"  {c['id']:>4} {c['name']!r:<18} -> "
                         f"{'-':>4} {'(none)':<20} [{how[c['name']]}]")
        else:
            mapping[c['id']] = o365_id[target]
            lines.append(f"  {c['id']:>4} {c['name']!r:<18} -> "
                         f"{o365_id[target]:>4} {target!r:<20} "
                         f"[{how[c['name']]}]")
    targets = set(mapping.values())
    report = '\n'.join(
        [f'COCO -> Objects365 class mapping: {len(mapping)} of '
         f'{len(coco_cats)} COCO classes mapped onto {len(targets)} '
         f'Objects365 classes; unmatched: {unmatched}'] + lines)
    return mapping, unmatched, report


def _prefixed(prefix: str, file_name: str) -> str:
    if not prefix:
        return file_name
    return prefix.rstrip('/') + '/' + file_name.lstrip('/')


def _last_dir_and_name(file_name: str) -> str:
    """'images/v2/patch16/x.jpg' -> 'patch16/x.jpg' (as mmdet does)."""
    parts = [p for p in file_name.replace('\\', '/').split('/') if p]
    return '/'.join(parts[-2:])


def _offset_above(max_id: int) -> int:
    """The smallest power of ten strictly greater than ``max_id``."""
    off = 10
    while off <= max_id:
        off *= 10
    return off


def build_coco2o365_split(
    coco_train: Mapping[str, Any],
    o365_train: Mapping[str, Any],
    mapping: Mapping[Any, Any],
    num_o365_labeled: int,
    seed: int = 1,
    coco_img_prefix: str = 'train2017/',
    o365_img_prefix: str = '',
    coco_id_offset: Optional[int] = None,
    exclude_from_labeled: Iterable[str] = O365_V2_MISSING_IMAGES,
    progress: Progress = None,
) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
    """The COCO -> Objects365 split of the CI-SSOD benchmark.

    * labeled = every COCO train image, its boxes relabelled into the
      Objects365 categories (boxes of unmapped classes such as sports ball
      are dropped; images left without boxes are kept), plus
      ``num_o365_labeled`` seeded-random Objects365 train images with all
      their boxes;
    * unlabeled = every other Objects365 train image;
    * majority = the Objects365 classes that are the target of a COCO class,
      minority = the others.

    Image and annotation ids of the two datasets can collide, so the COCO
    ids are shifted by an offset (default: the smallest power of ten above
    the largest Objects365 image/annotation id; the original COCO image id
    is kept in ``coco_id``), so image and annotation ids are unique (mmdet's
    ``Objects365V2Dataset`` asserts unique annotation ids).

    Image paths. ``file_name`` gets a per-source prefix. mmdet joins
    ``data_root + data_prefix['img'] + file_name``, but
    ``Objects365V2Dataset`` first cuts every ``file_name`` down to its last
    directory and base name ('images/v2/patch16/x.jpg' -> 'patch16/x.jpg',
    'train2017/0001.jpg' stays). The defaults are made for that: Objects365
    names are kept (-> 'patchN/x.jpg') and COCO names become
    'train2017/<name>', so with ``data_root='data/'``,
    ``data_prefix=dict(img='objects365/train/')`` the images are read from
    ``data/objects365/train/patchN/`` and ``data/objects365/train/
    train2017/`` (a symlink to ``data/coco/train2017``). With a dataset
    class that keeps the whole ``file_name`` (``CocoDataset``), prefixes
    such as ``coco/train2017/`` and ``objects365/train/`` with
    ``data_prefix=dict(img='')`` avoid the symlink instead.

    Args:
        coco_train: COCO ``instances_train2017.json``.
        o365_train: Objects365 train annotations (v2: ``zhiyuan_objv2_train
            .json``); its ``categories`` are the output categories.
        mapping: COCO category id -> Objects365 category id
            (:func:`build_coco_to_o365_mapping`).
        num_o365_labeled: Number of fully labelled Objects365 images.
        seed: Seed of the Objects365 sample.
        coco_img_prefix: Prefix of the COCO ``file_name`` values.
        o365_img_prefix: Prefix of the Objects365 ``file_name`` values.
        coco_id_offset: Offset of the COCO image and annotation ids.
        exclude_from_labeled: Objects365 images (``<last dir>/<file>``)
            never drawn into the labeled sample (they stay unlabeled).
        progress: Optional ``progress(iterable, desc)`` wrapper (e.g. tqdm)
            for the long loops.

    Returns:
        ``(labeled, unlabeled, unlabeled_gt, stats)``. ``stats`` has
        ``per_class`` (plus the columns ``coco_boxes`` and ``o365_boxes`` of
        the labeled boxes by source), ``num_images`` (``total``,
        ``labeled``, ``coco``, ``o365_labeled``, ``unlabeled``),
        ``dropped_coco_boxes`` (per unmapped COCO class),
        ``o365_labeled_image_ids``, ``coco_id_offset``, ``params``.
    """
    progress = progress or _identity
    o365_cats = sorted(o365_train['categories'], key=lambda c: c['id'])
    o365_cat_ids = {c['id'] for c in o365_cats}
    coco_cat_name = {c['id']: c['name'] for c in coco_train['categories']}
    bad = [k for k in mapping if k not in coco_cat_name]
    bad += [v for v in mapping.values() if v not in o365_cat_ids]
    if bad:
        raise ValueError(f'mapping refers to unknown category ids: {bad}')
    majority_ids = set(mapping.values())

    o365_images, o365_anns = _index(o365_train, 'Objects365', progress)
    coco_images, coco_anns = _index(coco_train, 'COCO', progress)
    max_img = max([im['id'] for im in o365_images], default=0)
    max_ann = max([a['id'] for a in o365_train['annotations']], default=0)
    if coco_id_offset is None:
        coco_id_offset = _offset_above(max(max_img, max_ann))
    elif coco_id_offset <= max(max_img, max_ann):
        raise ValueError(f'coco_id_offset={coco_id_offset} does not separate '
                         f'the ids (largest Objects365 id: '
                         f'{max(max_img, max_ann)})')

    # ---- COCO part, relabelled -------------------------------------------
    coco_part_images: List[dict] = []
    coco_part_anns: List[dict] = []
    dropped: Dict[str, int] = {}
    for im in progress(coco_images, 'relabel COCO'):
        new_im = dict(im)
        new_im['id'] = im['id'] + coco_id_offset
        new_im['coco_id'] = im['id']
        new_im['file_name'] = _prefixed(coco_img_prefix, im['file_name'])
        coco_part_images.append(new_im)
        for a in coco_anns[im['id']]:
            if a['category_id'] not in mapping:
                name = coco_cat_name[a['category_id']]
                dropped[name] = dropped.get(name, 0) + 1
                continue
            new_a = dict(a)
            new_a['id'] = a['id'] + coco_id_offset
            new_a['image_id'] = new_im['id']
            new_a['category_id'] = mapping[a['category_id']]
            coco_part_anns.append(new_a)

    # ---- Objects365 part ---------------------------------------------------
    excluded = set(exclude_from_labeled)
    eligible = [i for i, im in enumerate(o365_images)
                if _last_dir_and_name(im['file_name']) not in excluded]
    picked = [eligible[j] for j in _seeded_sample(len(eligible),
                                                  num_o365_labeled, seed)]
    picked_set = set(picked)

    def _o365_img(im):
        new_im = dict(im)
        new_im['file_name'] = _prefixed(o365_img_prefix, im['file_name'])
        return new_im

    o365_lab_images, o365_lab_anns = [], []
    unl_images, unl_anns = [], []
    for i, im in enumerate(progress(o365_images, 'split Objects365')):
        if i in picked_set:
            o365_lab_images.append(_o365_img(im))
            o365_lab_anns.extend(o365_anns[im['id']])
        else:
            unl_images.append(_o365_img(im))
            unl_anns.extend(o365_anns[im['id']])

    categories = list(o365_cats)
    labeled = _header(o365_train, o365_lab_images + coco_part_images,
                      o365_lab_anns + coco_part_anns, categories)
    unlabeled = _header(o365_train, unl_images, [], categories)
    unlabeled_gt = _header(o365_train, unl_images, unl_anns, categories)

    def _by_cat(anns):
        out: Dict[Any, int] = {}
        for a in anns:
            out[a['category_id']] = out.get(a['category_id'], 0) + 1
        return out

    per_class = _per_class_stats(
        categories,
        lambda c: 'majority' if c['id'] in majority_ids else 'minority',
        labeled['annotations'], unl_anns,
        extra={'coco_boxes': _by_cat(coco_part_anns),
               'o365_boxes': _by_cat(o365_lab_anns)})
    stats = dict(
        per_class=per_class,
        num_images=dict(
            total=len(coco_images) + len(o365_images),
            labeled=len(labeled['images']),
            coco=len(coco_part_images),
            o365_labeled=len(o365_lab_images),
            unlabeled=len(unl_images)),
        num_majority_classes=len(majority_ids),
        num_minority_classes=len(categories) - len(majority_ids),
        dropped_coco_boxes=dict(sorted(dropped.items())),
        o365_labeled_image_ids=[o365_images[i]['id'] for i in picked],
        coco_id_offset=coco_id_offset,
        params=dict(num_o365_labeled=num_o365_labeled, seed=seed,
                    coco_img_prefix=coco_img_prefix,
                    o365_img_prefix=o365_img_prefix),
    )
    return labeled, unlabeled, unlabeled_gt, stats


# ---------------------------------------------------------------------------
# LVIS v1
# ---------------------------------------------------------------------------
def _frequency_group(cat: Mapping[str, Any]) -> str:
    return LVIS_FREQUENCY_GROUPS.get(cat.get('frequency'), '?')


def _frequency_summary(per_class: Mapping[str, Mapping[str, Any]]
                       ) -> Dict[str, Dict[str, int]]:
    summary: Dict[str, Dict[str, int]] = {}
    for row in per_class.values():
        s = summary.setdefault(row['group'], dict(
            classes=0, classes_without_labeled_box=0, labeled_boxes=0))
        s['classes'] += 1
        s['labeled_boxes'] += row['labeled_boxes']
        s['classes_without_labeled_box'] += int(row['labeled_boxes'] == 0)
    return dict(sorted(summary.items()))


def build_lvis_split(
    lvis_train: Mapping[str, Any],
    num_labeled: Optional[int] = 9946,
    seed: int = 1,
    labeled_fraction: Optional[float] = None,
    progress: Progress = None,
) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
    """The LVIS v1 split of the CI-SSOD benchmark.

    labeled = ``num_labeled`` seeded-random train images with all their
    boxes (9,946 in the paper, about 10%), unlabeled = the rest. Images
    keep every field (``coco_url``, ``neg_category_ids``,
    ``not_exhaustive_category_ids``, ...) and the categories are copied
    unchanged (``frequency`` r/c/f, ``image_count``, ``instance_count`` of
    the full train set).

    Args:
        lvis_train: LVIS v1 train annotations (``lvis_v1_train.json``).
        num_labeled: Number of labeled images.
        seed: Seed of the sample.
        labeled_fraction: If given, overrides ``num_labeled`` with
            ``round(labeled_fraction * num_images)``.
        progress: Optional ``progress(iterable, desc)`` wrapper.

    Returns:
        ``(labeled, unlabeled, unlabeled_gt, stats)``; the per-class
        ``group`` is the frequency group (``rare``/``common``/``frequent``)
        and ``stats['frequency_summary']`` counts, per group, the classes
        and those without any labeled box.
    """
    progress = progress or _identity
    images, anns_by_img = _index(lvis_train, 'LVIS', progress)
    if labeled_fraction is not None:
        if not 0.0 <= labeled_fraction <= 1.0:
            raise ValueError('labeled_fraction must be in [0, 1]')
        num_labeled = int(round(labeled_fraction * len(images)))
    if num_labeled is None or not 0 <= num_labeled <= len(images):
        raise ValueError(f'num_labeled={num_labeled} is not in '
                         f'[0, {len(images)}] (number of images)')
    picked = set(_seeded_sample(len(images), num_labeled, seed))
    lab_images, lab_anns, unl_images, unl_anns = [], [], [], []
    for i, im in enumerate(progress(images, 'split LVIS')):
        if i in picked:
            lab_images.append(im)
            lab_anns.extend(anns_by_img[im['id']])
        else:
            unl_images.append(im)
            unl_anns.extend(anns_by_img[im['id']])
    categories = sorted(lvis_train['categories'], key=lambda c: c['id'])
    labeled = _header(lvis_train, lab_images, lab_anns, categories)
    unlabeled = _header(lvis_train, unl_images, [], categories)
    unlabeled_gt = _header(lvis_train, unl_images, unl_anns, categories)
    per_class = _per_class_stats(categories, _frequency_group, lab_anns,
                                 unl_anns)
    stats = dict(
        per_class=per_class,
        num_images=dict(total=len(images), labeled=len(lab_images),
                        unlabeled=len(unl_images),
                        without_annotations=sum(
                            1 for im in images if not anns_by_img[im['id']])),
        frequency_summary=_frequency_summary(per_class),
        labeled_image_ids=[im['id'] for im in lab_images],
        params=dict(num_labeled=num_labeled, seed=seed,
                    labeled_fraction=labeled_fraction),
    )
    return labeled, unlabeled, unlabeled_gt, stats


# ---------------------------------------------------------------------------
# Validation of existing split files
# ---------------------------------------------------------------------------
def _cat_table(data: Mapping[str, Any]) -> Dict[Any, str]:
    return {c['id']: c['name'] for c in data['categories']}


def validate_split(
    labeled: Mapping[str, Any],
    unlabeled: Mapping[str, Any],
    full: Optional[Mapping[str, Any]] = None,
    minority_classes: Optional[Sequence[str]] = None,
    min_minority_boxes: int = 10,
) -> Dict[str, Any]:
    """Check a labeled/unlabeled split made elsewhere and compute its stats.

    Checks (each failure raises ``ValueError`` with the details): unique
    image ids in every file; annotations that refer to images and
    categories of their file; identical categories (id and name) in all
    files; labeled and unlabeled image ids disjoint; if ``full`` is given,
    labeled + unlabeled cover exactly its images; minority class names
    exist.

    The unlabeled boxes are counted from ``unlabeled``'s annotations when it
    has any, else from ``full``'s annotations of the unlabeled images.
    ``hidden_boxes`` (with ``full``) are boxes of ``full`` on labeled images
    that the labeled file does not have (the majority-only images' minority
    boxes). Labeled images holding a labeled minority box count as
    ``few_shot``, the others as ``majority_only``.

    Args:
        labeled: The labeled split (COCO/LVIS format).
        unlabeled: The unlabeled split.
        full: Optional full annotation file the split was made from.
        minority_classes: Minority class names. ``None``: LVIS-style
            categories with ``frequency`` are grouped rare/common/frequent,
            otherwise every class is ``majority``.
        min_minority_boxes: Minority classes with fewer labeled boxes are
            listed in ``stats['warnings']``.

    Returns:
        Statistics in the format of :func:`build_ci_ssod_split` (prints
        with :func:`format_split_stats`), plus ``warnings`` (list of str)
        and ``unlabeled_boxes_source`` (``'unlabeled'``, ``'full'`` or
        ``'none'``).
    """
    files = [('labeled', labeled), ('unlabeled', unlabeled)]
    if full is not None:
        files.append(('full', full))
    ref = _cat_table(labeled)
    for what, data in files:
        cats = _cat_table(data)
        if len(cats) != len(data['categories']):
            raise ValueError(f'{what}: duplicate category ids')
        if cats != ref:
            only_a = sorted(set(ref.items()) - set(cats.items()))
            only_b = sorted(set(cats.items()) - set(ref.items()))
            raise ValueError(
                f'categories differ between labeled and {what}: only in '
                f'labeled {only_a[:20]}; only in {what} {only_b[:20]}')
    indexed = {}
    for what, data in files:
        images, anns_by_img = _index(data, what)
        bad = sorted({a['category_id'] for a in data['annotations']} -
                     set(ref))
        if bad:
            raise ValueError(f'{what}: annotations with unknown category '
                             f'ids {bad[:20]}')
        indexed[what] = (images, anns_by_img)
    lab_ids = set(indexed['labeled'][1])
    unl_ids = set(indexed['unlabeled'][1])
    overlap = sorted(lab_ids & unl_ids)
    if overlap:
        raise ValueError(
            f'labeled and unlabeled share {len(overlap)} image id(s), e.g. '
            f'{overlap[:10]}: the sets must be disjoint')
    if full is not None:
        full_ids = set(indexed['full'][1])
        missing = sorted(full_ids - lab_ids - unl_ids)
        extra = sorted((lab_ids | unl_ids) - full_ids)
        if missing or extra:
            raise ValueError(
                f'labeled + unlabeled do not cover the full set: '
                f'{len(missing)} image(s) of full in neither (e.g. '
                f'{missing[:10]}), {len(extra)} image(s) not in full (e.g. '
                f'{extra[:10]})')

    name_to_id = {n: i for i, n in ref.items()}
    if minority_classes is not None:
        unknown = [n for n in minority_classes if n not in name_to_id]
        if unknown:
            raise ValueError(f'Unknown minority class name(s) {unknown}; '
                             f'available: {sorted(name_to_id)}')
        minority_ids = {name_to_id[n] for n in minority_classes}

        def group_of(c):
            return 'minority' if c['id'] in minority_ids else 'majority'
    else:
        minority_ids = set()
        has_freq = all('frequency' in c for c in labeled['categories'])
        group_of = _frequency_group if has_freq else (lambda c: 'majority')

    lab_anns = list(labeled['annotations'])
    if unlabeled['annotations']:
        source, unl_anns = 'unlabeled', list(unlabeled['annotations'])
    elif full is not None:
        source = 'full'
        full_by_img = indexed['full'][1]
        unl_anns = [a for i in sorted(unl_ids) for a in full_by_img[i]]
    else:
        source, unl_anns = 'none', []
    hidden: Dict[Any, int] = {}
    if full is not None:
        full_by_img = indexed['full'][1]
        full_lab: Dict[Any, int] = {}
        for i in lab_ids:
            for a in full_by_img[i]:
                full_lab[a['category_id']] = full_lab.get(
                    a['category_id'], 0) + 1
        lab_count: Dict[Any, int] = {}
        for a in lab_anns:
            lab_count[a['category_id']] = lab_count.get(a['category_id'],
                                                        0) + 1
        hidden = {c: max(0, n - lab_count.get(c, 0))
                  for c, n in full_lab.items()}
    per_class = _per_class_stats(labeled['categories'], group_of, lab_anns,
                                 unl_anns, hidden=hidden)
    few_shot = sorted({a['image_id'] for a in lab_anns
                       if a['category_id'] in minority_ids})
    warnings = [
        f'minority class {name!r} has {row["labeled_boxes"]} labeled boxes '
        f'(< {min_minority_boxes})' for name, row in per_class.items()
        if row['group'] == 'minority'
        and row['labeled_boxes'] < min_minority_boxes
    ]
    num_images = dict(total=len(lab_ids) + len(unl_ids),
                      labeled=len(lab_ids))
    if minority_classes is not None:
        num_images.update(majority_only=len(lab_ids) - len(few_shot),
                          few_shot=len(few_shot))
    num_images['unlabeled'] = len(unl_ids)
    stats = dict(
        per_class=per_class,
        num_images=num_images,
        unlabeled_boxes_source=source,
        warnings=warnings,
    )
    if group_of is _frequency_group:
        stats['frequency_summary'] = _frequency_summary(per_class)
    return stats
