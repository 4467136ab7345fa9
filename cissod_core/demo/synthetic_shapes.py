"""Deterministic synthetic long-tailed "coloured shapes" detection dataset.

The demo dataset is small and easy enough for a tiny Faster R-CNN to learn
from scratch on a CPU within ~1-2k iterations: 8 classes, each a unique
(shape, colour) pair drawn on a mildly noisy, low-contrast background.

* Train: class frequencies follow a geometric long tail (ratio
  ``TRAIN_TAIL_RATIO`` between consecutive classes, the head class holds
  ~39% of the boxes). It is then split with
  :func:`cissod_core.splits.ci_ssod.build_ci_ssod_split` into a labeled
  set (5% majority-only images + few-shot minority images) and an unlabeled
  set.
* Val: a much flatter class distribution (``ratio ** VAL_FLATTEN``) so every
  class has enough boxes for a stable per-class AP.

Only numpy and Pillow are used (no mmdet import). Everything is driven by
``numpy.random.default_rng`` streams derived from the seed, so the same
parameters give byte-identical JSON files and identical pixels.

Layout of ``out_dir``::

    images/train/000001.png ...        (file_name in the JSON: '000001.png')
    images/val/000001.png ...
    annotations/train_labeled.json     labeled CI-SSOD part
    annotations/train_unlabeled.json   unlabeled images, annotations: []
    annotations/train_unlabeled_gt.json  the same images with their true boxes
    annotations/train_full_gt.json   all train images with all their boxes,
                                     incl. the minority boxes removed from the
                                     labeled set (analysis only)
    annotations/val.json
    meta.json                          written last = completion marker
"""
import contextlib
import json
import math
import os
import os.path as osp
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

from ..splits.ci_ssod import build_ci_ssod_split

__all__ = [
    'DEMO_CLASSES', 'MAJORITY_CLASSES', 'MINORITY_CLASSES', 'DEMO_PALETTE',
    'DEMO_METAINFO', 'GENERATOR_VERSION', 'generate_demo_dataset',
    'ensure_demo_data', 'is_demo_data_up_to_date', 'load_demo_meta',
    'format_demo_stats'
]

#: Bump whenever the generated content changes (forces regeneration).
GENERATOR_VERSION = '1.1'

# (name, shape, RGB colour); the order is the frequency rank in train and the
# category id is ``index + 1``.
_CLASS_SPECS: Tuple[Tuple[str, str, Tuple[int, int, int]], ...] = (
    ('red_circle', 'circle', (225, 35, 35)),
    ('green_square', 'square', (40, 175, 55)),
    ('blue_triangle', 'triangle', (45, 85, 240)),
    ('yellow_cross', 'cross', (240, 215, 35)),
    ('magenta_ring', 'ring', (215, 45, 205)),
    # minority classes that resemble a majority class (colour or shape), so
    # that a classifier biased toward the frequent classes confuses them
    ('orange_circle', 'circle', (245, 130, 30)),
    ('green_diamond', 'diamond', (70, 190, 90)),
    ('white_star', 'star', (248, 248, 248)),
)

#: All class names, most frequent (in train) first; category ids are 1..8.
DEMO_CLASSES: Tuple[str, ...] = tuple(s[0] for s in _CLASS_SPECS)
#: The 5 most frequent classes.
MAJORITY_CLASSES: Tuple[str, ...] = DEMO_CLASSES[:5]
#: The 3 rarest classes.
MINORITY_CLASSES: Tuple[str, ...] = DEMO_CLASSES[5:]
#: Drawing colour of every class (usable as an mmdet ``palette``).
DEMO_PALETTE: Tuple[Tuple[int, int, int], ...] = tuple(
    s[2] for s in _CLASS_SPECS)
#: ``metainfo`` for mmdet datasets.
DEMO_METAINFO: Dict[str, Any] = dict(
    classes=DEMO_CLASSES, palette=list(DEMO_PALETTE))

#: Labeled boxes of every minority class (its few-shot labeled images).
DEFAULT_MIN_MINORITY_BOXES = 10
#: Frequency ratio between consecutive classes in train.
TRAIN_TAIL_RATIO = 0.62
#: Val class weights are ``TRAIN_TAIL_RATIO ** (VAL_FLATTEN * rank)``.
VAL_FLATTEN = 0.2
#: Objects per image are drawn uniformly in ``[MIN_OBJECTS, MAX_OBJECTS]``.
MIN_OBJECTS, MAX_OBJECTS = 1, 5
#: Object side range in pixels at ``img_size == 128`` (scaled linearly).
MIN_SIDE, MAX_SIDE = 14, 44
#: Placement is rejected above this IoU with an earlier object ...
MAX_IOU = 0.3
#: ... or when it covers more than this fraction of either box.
MAX_COVER = 0.4
#: Supersampling factor for anti-aliased shapes / sub-pixel tight boxes.
_SS = 4

_META_FILE = 'meta.json'
_ANN_FILES = {
    'train_labeled': 'annotations/train_labeled.json',
    'train_unlabeled': 'annotations/train_unlabeled.json',
    'train_unlabeled_gt': 'annotations/train_unlabeled_gt.json',
    'train_full_gt': 'annotations/train_full_gt.json',
    'val': 'annotations/val.json',
}
_IMG_DIRS = {'train': 'images/train', 'val': 'images/val'}
# Parameters that must match for an existing dataset to be reused.
_PARAM_KEYS = ('version', 'seed', 'num_train', 'num_val', 'img_size',
               'labeled_fraction', 'min_minority_boxes', 'tail_ratio')
# Sub-stream ids for numpy SeedSequence-style seeding.
_STREAM_TRAIN, _STREAM_VAL = 1, 2


# --------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------
def _shape_mask(shape: str, side: int) -> np.ndarray:
    """Draw ``shape`` filling a ``side x side`` cell at ``_SS``x resolution.

    Args:
        shape: One of the shape names of ``_CLASS_SPECS``.
        side: Cell side in (output) pixels.

    Returns:
        Boolean array ``(side * _SS, side * _SS)``.
    """
    p = side * _SS
    img = Image.new('L', (p, p), 0)
    d = ImageDraw.Draw(img)
    e = p - 1  # last pixel index
    c = e / 2.0
    if shape == 'circle':
        d.ellipse((0, 0, e, e), fill=255)
    elif shape == 'square':
        m = 0.08 * p
        d.rectangle((m, m, e - m, e - m), fill=255)
    elif shape == 'triangle':
        h = 0.9 * e
        top = (e - h) / 2.0
        d.polygon([(c, top), (e, top + h), (0, top + h)], fill=255)
    elif shape == 'cross':
        t = 0.17 * p  # half arm thickness
        d.rectangle((c - t, 0, c + t, e), fill=255)
        d.rectangle((0, c - t, e, c + t), fill=255)
    elif shape == 'ring':
        t = 0.2 * p
        d.ellipse((0, 0, e, e), fill=255)
        d.ellipse((t, t, e - t, e - t), fill=0)
    elif shape == 'diamond':
        d.polygon([(c, 0), (e, c), (c, e), (0, c)], fill=255)
    elif shape == 'bar':
        t = 0.19 * p  # half height
        d.rectangle((0, c - t, e, c + t), fill=255)
    elif shape == 'star':
        r_out, r_in = c, 0.45 * c
        pts = []
        for k in range(10):
            ang = -math.pi / 2 + k * math.pi / 5
            r = r_out if k % 2 == 0 else r_in
            pts.append((c + r * math.cos(ang), c + r * math.sin(ang)))
        d.polygon(pts, fill=255)
    else:
        raise ValueError(f'Unknown shape {shape!r}')
    return np.asarray(img) > 0


def _render_object(shape: str, side: int
                   ) -> Tuple[np.ndarray, Tuple[float, float, float, float]]:
    """Rasterise a shape into an alpha mask and its tight box.

    Returns:
        ``(alpha, (x0, y0, x1, y1))``: ``alpha`` is float32 ``(side, side)``
        in [0, 1] (anti-aliased by supersampling) and the box is the tight
        box of the drawn shape, in pixels relative to the cell origin.
    """
    hi = _shape_mask(shape, side)
    rows = np.flatnonzero(hi.any(axis=1))
    cols = np.flatnonzero(hi.any(axis=0))
    box = (cols[0] / _SS, rows[0] / _SS, (cols[-1] + 1) / _SS,
           (rows[-1] + 1) / _SS)
    alpha = hi.reshape(side, _SS, side, _SS).mean(
        axis=(1, 3), dtype=np.float32)
    return alpha, box


def _overlaps(box: Sequence[float], others: List[Sequence[float]]) -> bool:
    """Whether ``box`` overlaps any of ``others`` too much (xyxy boxes)."""
    ax0, ay0, ax1, ay1 = box
    area_a = (ax1 - ax0) * (ay1 - ay0)
    for bx0, by0, bx1, by1 in others:
        iw = min(ax1, bx1) - max(ax0, bx0)
        ih = min(ay1, by1) - max(ay0, by0)
        if iw <= 0 or ih <= 0:
            continue
        inter = iw * ih
        area_b = (bx1 - bx0) * (by1 - by0)
        if inter / (area_a + area_b - inter) > MAX_IOU:
            return True
        if inter / min(area_a, area_b) > MAX_COVER:
            return True
    return False


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Low-contrast textured background, float32 ``(size, size, 3)``."""
    base = rng.uniform(85.0, 135.0)
    tint = rng.uniform(-8.0, 8.0, size=3)
    cells = int(rng.integers(4, 9))
    low = rng.normal(0.0, 1.0, size=(cells, cells)).astype(np.float32)
    low = np.asarray(
        Image.fromarray(low).resize((size, size), Image.Resampling.BICUBIC),
        dtype=np.float32)
    img = (base + tint)[None, None, :] + 12.0 * low[:, :, None]
    img = img + rng.normal(0.0, 4.0, size=(size, size, 3))
    return img.astype(np.float32)


def _render_image(
    rng: np.random.Generator, class_idx: Sequence[int], size: int
) -> Tuple[np.ndarray, List[Tuple[int, list, float]]]:
    """Render one image with the given objects.

    Args:
        rng: Per-image random generator.
        class_idx: 0-based class indices of the objects to place.
        size: Image side in pixels.

    Returns:
        ``(pixels, objects)``: uint8 ``(size, size, 3)`` RGB array and a list
        of ``(class_idx, [x, y, w, h], area)`` for the placed objects
        (objects that cannot be placed without overlap are dropped; this
        essentially never happens with the default sizes).
    """
    img = _background(rng, size)
    scale = size / 128.0
    lo = max(4, int(round(MIN_SIDE * scale)))
    hi = max(lo, int(round(MAX_SIDE * scale)))
    placed: List[Tuple[float, float, float, float]] = []
    objects: List[Tuple[int, list, float]] = []
    for cls in class_idx:
        _, shape, colour = _CLASS_SPECS[cls]
        col = np.clip(
            np.asarray(colour, np.float32) * rng.uniform(0.88, 1.04) +
            rng.uniform(-14.0, 14.0, size=3), 0, 255).astype(np.float32)
        side_hi = hi
        done = False
        for _attempt in range(8):  # shrink the object after repeated failures
            side = int(rng.integers(lo, side_hi + 1))
            alpha, (bx0, by0, bx1, by1) = _render_object(shape, side)
            for _try in range(25):
                x = int(rng.integers(0, size - side + 1))
                y = int(rng.integers(0, size - side + 1))
                box = (x + bx0, y + by0, x + bx1, y + by1)
                if not _overlaps(box, placed):
                    done = True
                    break
            if done:
                break
            side_hi = max(lo, (side_hi + lo) // 2)
        if not done:
            continue
        a = alpha[:, :, None]
        patch = img[y:y + side, x:x + side]
        img[y:y + side, x:x + side] = patch * (1.0 - a) + col * a
        placed.append(box)
        w, h = box[2] - box[0], box[3] - box[1]
        objects.append((cls, [box[0], box[1], w, h],
                        round(float(alpha.sum()), 2)))
    img = img + rng.normal(0.0, 2.5, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), objects


# --------------------------------------------------------------------------
# Dataset generation
# --------------------------------------------------------------------------
def _class_quota(total: int, weights: Sequence[float],
                 floor: int = 0) -> List[int]:
    """Split ``total`` boxes over classes proportionally to ``weights``.

    Largest-remainder rounding, then the ``i``-th rarest class is raised to
    at least ``floor + i`` boxes (keeps the order strict when the floor
    binds, i.e. only for small datasets); the excess is taken one box at a
    time from the currently largest class still above its floor.
    """
    w = np.asarray(weights, dtype=np.float64)
    exact = total * w / w.sum()
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind='stable')
    counts[order[:total - int(counts.sum())]] += 1
    if floor > 0:
        k = len(counts)
        floors = floor + np.arange(k - 1, -1, -1)
        if int(floors.sum()) > total:
            raise ValueError(
                f'Too few objects ({total}) to give every class at least '
                f'{floor} boxes; increase num_train')
        counts = np.maximum(counts, floors)
        for _ in range(int(counts.sum()) - total):
            slack = np.where(counts > floors, counts, -1)
            counts[int(np.argmax(slack))] -= 1
    return [int(c) for c in counts]


def _generate_split(out_dir: str, split: str, num_images: int, img_size: int,
                    seed: int, weights: Sequence[float],
                    floor: int = 0) -> Dict[str, Any]:
    """Generate and save the images of one split; return its COCO dict."""
    stream = _STREAM_TRAIN if split == 'train' else _STREAM_VAL
    layout_rng = np.random.default_rng([seed, stream])
    n_obj = layout_rng.integers(MIN_OBJECTS, MAX_OBJECTS + 1, size=num_images)
    quota = _class_quota(int(n_obj.sum()), weights, floor)
    labels = np.repeat(np.arange(len(quota)), quota)
    layout_rng.shuffle(labels)
    bounds = np.concatenate([[0], np.cumsum(n_obj)])

    img_dir = osp.join(out_dir, _IMG_DIRS[split])
    os.makedirs(img_dir, exist_ok=True)
    images, annotations = [], []
    for i in range(num_images):
        img_id = i + 1
        rng = np.random.default_rng([seed, stream, img_id])
        pixels, objects = _render_image(
            rng, labels[bounds[i]:bounds[i + 1]].tolist(), img_size)
        file_name = f'{img_id:06d}.png'
        Image.fromarray(pixels).save(osp.join(img_dir, file_name))
        images.append(dict(id=img_id, file_name=file_name, width=img_size,
                           height=img_size))
        for cls, bbox, area in objects:
            annotations.append(dict(
                id=len(annotations) + 1, image_id=img_id,
                category_id=cls + 1, bbox=[float(v) for v in bbox],
                area=float(area), iscrowd=0))
    return dict(
        info=dict(description=f'cissod synthetic long-tailed shapes ({split})',
                  version=GENERATOR_VERSION, seed=seed),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[dict(id=i + 1, name=name, supercategory='shape')
                    for i, name in enumerate(DEMO_CLASSES)],
    )


def _class_counts(coco: Dict[str, Any]) -> Dict[str, int]:
    counts = {name: 0 for name in DEMO_CLASSES}
    for ann in coco['annotations']:
        counts[DEMO_CLASSES[ann['category_id'] - 1]] += 1
    return counts


def _dump_json(obj: Any, path: str) -> None:
    """Write JSON deterministically and atomically."""
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(obj, f, separators=(',', ':'))
    os.replace(tmp, path)


def _clear_outputs(out_dir: str) -> None:
    """Remove a previous (possibly partial) dataset written by this module."""
    meta = osp.join(out_dir, _META_FILE)
    if osp.exists(meta):
        os.remove(meta)
    for rel in _ANN_FILES.values():
        if osp.exists(osp.join(out_dir, rel)):
            os.remove(osp.join(out_dir, rel))
    for rel in _IMG_DIRS.values():
        d = osp.join(out_dir, rel)
        if osp.isdir(d):
            for name in os.listdir(d):
                if name.endswith('.png'):
                    os.remove(osp.join(d, name))


def generate_demo_dataset(out_dir: str,
                          seed: int = 0,
                          num_train: int = 2000,
                          num_val: int = 500,
                          img_size: int = 128,
                          labeled_fraction: float = 0.05,
                          min_minority_boxes: int = DEFAULT_MIN_MINORITY_BOXES,
                          tail_ratio: float = TRAIN_TAIL_RATIO,
                          verbose: bool = True) -> Dict[str, Any]:
    """Generate the demo dataset into ``out_dir`` (overwriting it).

    Args:
        out_dir: Output directory (created if needed).
        seed: Master seed; same parameters give identical files.
        num_train: Number of training images (before the CI-SSOD split).
        num_val: Number of validation images.
        img_size: Side of the square images in pixels.
        labeled_fraction: Majority-only labeled fraction of the train images.
        min_minority_boxes: Labeled boxes every minority class must reach.
        tail_ratio: Train frequency ratio between consecutive classes (the
            labeled set is long-tailed whatever it is: minority boxes are
            held out of its majority-only part; a ratio near 1 makes the
            minority classes common in the unlabeled images, as the VOC
            classes are in COCO split1).
        verbose: Print the per-class statistics when done.

    Returns:
        The meta dict, also written to ``out_dir/meta.json`` (last, as the
        completion marker). It holds ``classes``, ``majority``, ``minority``,
        the generation parameters, ``version``, ``files`` (paths relative to
        ``out_dir``), ``num_images`` and per-class ``class_stats``.
    """
    if num_train < 1 or num_val < 1:
        raise ValueError('num_train and num_val must be >= 1')
    if img_size < 32:
        raise ValueError(f'img_size must be >= 32, got {img_size}')
    if not 0 < tail_ratio <= 1:
        raise ValueError(f'tail_ratio must be in (0, 1], got {tail_ratio}')
    t0 = time.time()
    os.makedirs(out_dir, exist_ok=True)
    _clear_outputs(out_dir)

    k = len(DEMO_CLASSES)
    train_w = [tail_ratio**i for i in range(k)]
    val_w = [tail_ratio**(VAL_FLATTEN * i) for i in range(k)]
    # Guarantee enough minority boxes for the split even for tiny datasets
    # (does not bind at the default size).
    train = _generate_split(out_dir, 'train', num_train, img_size, seed,
                            train_w, floor=2 * min_minority_boxes)
    val = _generate_split(out_dir, 'val', num_val, img_size, seed, val_w)

    labeled, unlabeled, unlabeled_gt, split_stats = build_ci_ssod_split(
        train, MINORITY_CLASSES, labeled_fraction=labeled_fraction,
        min_minority_boxes=min_minority_boxes, seed=seed)
    for name, coco in (('train_labeled', labeled),
                       ('train_unlabeled', unlabeled),
                       ('train_unlabeled_gt', unlabeled_gt),
                       ('train_full_gt', train), ('val', val)):
        coco['info'] = dict(coco['info'], split=name)
        _dump_json(coco, osp.join(out_dir, _ANN_FILES[name]))

    val_counts = _class_counts(val)
    train_counts = _class_counts(train)
    class_stats = {}
    for name in DEMO_CLASSES:
        row = split_stats['per_class'][name]
        class_stats[name] = dict(
            category_id=row['category_id'],
            group=row['group'],
            train_boxes=train_counts[name],
            train_labeled_boxes=row['labeled_boxes'],
            train_labeled_images=row['labeled_images'],
            train_unlabeled_boxes=row['unlabeled_boxes'],
            train_hidden_boxes=row['hidden_boxes'],
            val_boxes=val_counts[name])
    meta = dict(
        generator='cissod_core.demo.synthetic_shapes',
        version=GENERATOR_VERSION,
        seed=seed,
        num_train=num_train,
        num_val=num_val,
        img_size=img_size,
        labeled_fraction=labeled_fraction,
        min_minority_boxes=min_minority_boxes,
        tail_ratio=tail_ratio,
        classes=list(DEMO_CLASSES),
        majority=list(MAJORITY_CLASSES),
        minority=list(MINORITY_CLASSES),
        palette=[list(c) for c in DEMO_PALETTE],
        files=dict(_ANN_FILES, train_images=_IMG_DIRS['train'] + '/',
                   val_images=_IMG_DIRS['val'] + '/'),
        num_images=dict(split_stats['num_images'], val=num_val),
        few_shot_image_ids=split_stats['few_shot_image_ids'],
        class_stats=class_stats,
    )
    _dump_json(meta, osp.join(out_dir, _META_FILE))  # completion marker
    if verbose:
        print(f'Generated demo dataset in {out_dir} '
              f'({time.time() - t0:.1f}s)')
        print(format_demo_stats(meta))
    return meta


def load_demo_meta(out_dir: str) -> Optional[Dict[str, Any]]:
    """Return the meta of a complete dataset in ``out_dir``, else ``None``.

    A dataset is complete when ``meta.json`` parses and all annotation files
    and the expected number of images exist.
    """
    try:
        with open(osp.join(out_dir, _META_FILE), encoding='utf-8') as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None
    try:
        for rel in _ANN_FILES.values():
            if not osp.isfile(osp.join(out_dir, rel)):
                return None
        for split, key in (('train', 'num_train'), ('val', 'num_val')):
            d = osp.join(out_dir, _IMG_DIRS[split])
            n = sum(1 for f in os.listdir(d) if f.endswith('.png'))
            if n != meta[key]:
                return None
    except (OSError, KeyError):
        return None
    return meta


@contextlib.contextmanager
def _dir_lock(out_dir: str) -> Iterator[None]:
    """Inter-process lock on ``out_dir`` (no-op where fcntl is missing)."""
    os.makedirs(out_dir, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(osp.join(out_dir, '.lock'), 'w') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


_DEFAULT_PARAMS: Dict[str, Any] = dict(
    seed=0, num_train=2000, num_val=500, img_size=128, labeled_fraction=0.05,
    min_minority_boxes=DEFAULT_MIN_MINORITY_BOXES,
    tail_ratio=TRAIN_TAIL_RATIO)


def _resolve_params(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    unknown = set(kwargs) - set(_DEFAULT_PARAMS) - {'verbose'}
    if unknown:
        raise TypeError(f'Unexpected argument(s): {sorted(unknown)}')
    params = dict(_DEFAULT_PARAMS)
    params.update({k: v for k, v in kwargs.items() if k in params})
    return params


def _meta_matches(meta: Optional[Dict[str, Any]],
                  params: Dict[str, Any]) -> bool:
    if meta is None:
        return False
    expected = dict(params, version=GENERATOR_VERSION)
    # data written before tail_ratio was a parameter used the default
    meta = dict(dict(tail_ratio=TRAIN_TAIL_RATIO), **meta)
    return all(meta.get(k) == expected[k] for k in _PARAM_KEYS)


def is_demo_data_up_to_date(out_dir: str = 'data/demo',
                            **kwargs: Any) -> bool:
    """Whether ``out_dir`` holds a complete dataset made with these params.

    Args:
        out_dir: Dataset directory.
        **kwargs: Generation parameters (defaults of
            :func:`generate_demo_dataset` for the missing ones).
    """
    return _meta_matches(load_demo_meta(out_dir), _resolve_params(kwargs))


def ensure_demo_data(out_dir: str = 'data/demo',
                     force: bool = False,
                     **kwargs: Any) -> Dict[str, Any]:
    """Return the demo dataset meta, generating the data only when needed.

    Regenerates when ``force`` is set, ``meta.json`` is missing/unreadable,
    files are missing, or the version or any generation parameter differs;
    otherwise returns the stored meta at once. Safe to call concurrently from
    several processes (file lock in ``out_dir``).

    Args:
        out_dir: Dataset directory.
        force: Regenerate unconditionally.
        **kwargs: Parameters of :func:`generate_demo_dataset` (``seed``,
            ``num_train``, ``num_val``, ``img_size``, ``labeled_fraction``,
            ``min_minority_boxes``, ``verbose``).

    Returns:
        The meta dict.
    """
    params = _resolve_params(kwargs)
    with _dir_lock(out_dir):
        meta = None if force else load_demo_meta(out_dir)
        if _meta_matches(meta, params):
            return meta
        return generate_demo_dataset(
            out_dir, verbose=kwargs.get('verbose', True), **params)


def format_demo_stats(meta: Dict[str, Any]) -> str:
    """Per-class table of a demo dataset meta (train split + val boxes)."""
    cs = meta['class_stats']
    rows = [('id', 'class', 'group', 'train', 'lab_boxes', 'lab_imgs',
             'unl_boxes', 'hidden', 'val_boxes')]
    keys = ('train_boxes', 'train_labeled_boxes', 'train_labeled_images',
            'train_unlabeled_boxes', 'train_hidden_boxes', 'val_boxes')
    for name in meta['classes']:
        r = cs[name]
        rows.append((str(r['category_id']), name, r['group']) +
                    tuple(str(r[k]) for k in keys))
    rows.append(('', 'TOTAL', '') + tuple(
        str(sum(cs[n][k] for n in meta['classes'])) for k in keys))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]

    def fmt(r: Sequence[str]) -> str:
        return '  '.join(c.ljust(widths[i]) if i in (1, 2) else
                         c.rjust(widths[i]) for i, c in enumerate(r)).rstrip()

    sep = '-' * len(fmt(rows[0]))
    n = meta['num_images']
    lines = [fmt(rows[0]), sep] + [fmt(r) for r in rows[1:-1]] + [
        sep, fmt(rows[-1]),
        f"train images: {n['total']} = labeled {n['labeled']} "
        f"(majority-only {n['majority_only']} + few-shot {n['few_shot']}) "
        f"+ unlabeled {n['unlabeled']}; val images: {n['val']}",
        'lab = labeled, unl = unlabeled, hidden = minority boxes removed '
        'from majority-only labeled images',
    ]
    return '\n'.join(lines)
