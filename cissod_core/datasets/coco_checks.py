"""Checks of a user's COCO-format detection data, one clear error each.

Every check raises :class:`DataCheckError` whose message names the file,
the image (id and file name) or annotation concerned, what is wrong, and the
fix. They run before anything is built (``tools/prepare_custom_dataset.py``
and ``tools/train.py``), so bad data fails in seconds instead of inside a
dataloader worker, or, worse, trains silently on dropped or broken boxes.

What is checked:

* the file: exists, is valid JSON (a truncated file is named as such), has
  ``images`` / ``annotations`` / ``categories`` lists;
* ids: no duplicate image, annotation or category ids;
* numbers: image width / height, box coordinates and areas are finite
  (NaN and Infinity, which JSON allows, are errors);
* annotations: refer to an existing image and category; boxes have a
  positive width and height and lie inside their image (1 px tolerance);
* images on disk (:func:`check_image_files`): the file exists; its size
  equals the JSON's ``width`` / ``height``; its pixel format loads the way
  training expects (8-bit grayscale, palette, RGBA and CMYK images are
  converted to 3-channel colour by the loader, which is only reported;
  16- and 32-bit images are an error: OpenCV keeps only their high byte);
* the split (:func:`check_split`): the same categories in every file, no
  image in two of labeled / unlabeled / val, every class with at least one
  labeled box.

Only the standard library and Pillow are used (no mmdet import).
"""
import json
import math
import os
import os.path as osp
from collections import Counter
from dataclasses import dataclass, field
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)

__all__ = [
    'DataCheckError', 'CocoFileSummary', 'load_coco_json', 'check_coco_file',
    'check_image_files', 'check_split', 'check_disjoint_images',
    'class_frequency_table', 'finite_number', 'COLOUR_CONVERTED_MODES',
    'HIGH_DEPTH_MODES'
]

#: ``progress(iterable, desc, total)`` wrapper, e.g. a tqdm factory.
Progress = Optional[Callable[[Iterable, str, int], Iterable]]

#: Pillow modes that ``LoadImageFromFile`` (OpenCV ``IMREAD_COLOR``) turns
#: into 3-channel 8-bit colour: fine, reported only.
COLOUR_CONVERTED_MODES = ('L', 'LA', 'P', 'PA', 'RGBA', 'CMYK', '1')
#: Pillow modes of 16/32-bit images: OpenCV's colour loading keeps only the
#: high byte of 16-bit data (12-bit content becomes nearly black).
HIGH_DEPTH_MODES = ('I', 'I;16', 'I;16B', 'I;16L', 'I;16N', 'F')

#: Boxes may stick out of their image by this many pixels (rounding).
BOX_TOLERANCE = 1.0


class DataCheckError(ValueError):
    """A problem with the user's data; the message names the fix."""


@dataclass
class CocoFileSummary:
    """What the checks learned about one COCO file.

    Attributes:
        path: The JSON file.
        role: ``'labeled'``, ``'unlabeled'`` or ``'val'``.
        img_dir: Directory the ``file_name`` entries are relative to.
        categories: ``[(id, name), ...]`` in file order.
        images: ``{image id: file name}``.
        image_sizes: ``{image id: (width, height)}`` from the JSON.
        box_counts: ``{class name: number of boxes}`` (every class listed).
        image_counts: ``{class name: number of images with the class}``.
        num_annotations: Number of annotations.
        modes: ``{Pillow mode: number of images}`` (after
            :func:`check_image_files` with ``read_headers=True``).
        notes: Things worth knowing that are not errors.
    """
    path: str
    role: str
    img_dir: str
    categories: List[Tuple[int, str]]
    images: Dict[Any, str]
    image_sizes: Dict[Any, Tuple[int, int]]
    box_counts: Dict[str, int]
    image_counts: Dict[str, int]
    num_annotations: int
    modes: Dict[str, int] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)

    @property
    def class_names(self) -> List[str]:
        return [name for _, name in self.categories]

    def image_path(self, image_id: Any) -> str:
        return osp.join(self.img_dir, self.images[image_id])


def _identity(iterable: Iterable, desc: str, total: int) -> Iterable:
    return iterable


def finite_number(value: Any) -> Optional[float]:
    """``value`` as a float if it is a finite real number, else None.

    JSON allows ``NaN`` and ``Infinity`` (Python's ``json`` reads and writes
    them); every comparison with NaN is false, so a size or bounds check
    written as ``w <= 0`` lets it through. Booleans and strings are not
    numbers here.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def check_finite_predictions(predictions: List[Mapping[str, Any]],
                             source: str) -> None:
    """Check that every detection of a COCO result list has a finite
    ``score`` and, where present, finite ``bbox`` numbers.

    A NaN score sorts arbitrarily in the evaluators' ranking, so the AP of
    such a result file means nothing; it is the trace of a model with
    non-finite weights.

    Args:
        predictions: COCO results (``image_id``, ``category_id``,
            ``score``, ``bbox`` ``[x, y, w, h]``).
        source: The result file (or evaluator) named in the error.

    Raises:
        DataCheckError: naming the file, the first bad detection, how many
            there are and the likely cause.
    """
    bad = [i for i, p in enumerate(predictions)
           if finite_number(p.get('score')) is None
           or any(finite_number(v) is None for v in p.get('bbox', ()))]
    if bad:
        first = predictions[bad[0]]
        raise DataCheckError(
            f'result file {source}: {len(bad)} of {len(predictions)} '
            f'detections hold a number that is not finite, e.g. image id '
            f'{first.get("image_id")}, category id '
            f'{first.get("category_id")}: score {first.get("score")}, bbox '
            f'{first.get("bbox")}. The model\'s outputs are not finite (a '
            'checkpoint of a diverged run, or fp16 overflow at test time): '
            'evaluate a finite checkpoint; the training run stops at its '
            'first non-finite loss unless --skip-non-finite.')


def load_coco_json(path: str, role: str) -> Dict[str, Any]:
    """Read a COCO file, with one clear error for a missing, truncated or
    malformed file.

    Raises:
        DataCheckError: naming the file, what is wrong and the fix.
    """
    if not osp.isfile(path):
        raise DataCheckError(
            f'{role} annotation file {path} does not exist: check the path '
            '(relative paths are relative to the current directory).')
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
        data = json.loads(text)
    except json.JSONDecodeError as e:
        # a cut file fails at its end, or inside its last (open) string
        truncated = (e.pos >= len(text.rstrip()) - 1
                     or e.msg.startswith('Unterminated string'))
        where = 'at its end' if truncated else f'at character {e.pos}'
        hint = (' It ends in the middle of the data: it is probably '
                'truncated (an interrupted copy or download).'
                if truncated else '')
        raise DataCheckError(
            f'{role} annotation file {path} ({osp.getsize(path)} bytes) is '
            f'not valid JSON {where} (line {e.lineno}, column {e.colno}: '
            f'{e.msg}).{hint} Copy or export the file again.') from None
    except UnicodeDecodeError as e:
        raise DataCheckError(
            f'{role} annotation file {path} is not UTF-8 text ({e}): is it '
            'a COCO JSON file?') from None
    if not isinstance(data, dict):
        raise DataCheckError(
            f'{role} annotation file {path} holds a JSON '
            f'{type(data).__name__}, not a COCO object with "images", '
            '"annotations" and "categories".')
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(data.get(key), list):
            got = 'is missing' if key not in data else \
                f'is a {type(data[key]).__name__}'
            raise DataCheckError(
                f'{role} annotation file {path}: "{key}" {got}; a COCO file '
                'needs the lists "images", "annotations" and "categories" '
                '(an image-only file has "annotations": []).')
    return data


def _duplicates(values: Iterable[Any]) -> List[Any]:
    return sorted((v for v, n in Counter(values).items() if n > 1), key=str)


def check_coco_file(path: str,
                    img_dir: str,
                    role: str,
                    data: Optional[Mapping[str, Any]] = None,
                    progress: Progress = None) -> CocoFileSummary:
    """Check one COCO file (JSON level, no image is opened).

    Args:
        path: The COCO JSON file.
        img_dir: Directory the images' ``file_name`` are relative to.
        role: ``'labeled'``, ``'unlabeled'`` or ``'val'`` (for messages).
        data: The file's content when already loaded.
        progress: Optional progress wrapper for the annotation loop.

    Returns:
        CocoFileSummary: class box / image counts and the image table.

    Raises:
        DataCheckError: on the first problem, naming it and the fix.
    """
    progress = progress or _identity
    if data is None:
        data = load_coco_json(path, role)
    where = f'{role} annotation file {path}'

    for i, cat in enumerate(data['categories']):
        if not isinstance(cat, dict) or 'id' not in cat or 'name' not in cat:
            raise DataCheckError(
                f'{where}: category #{i} ({cat!r}) lacks "id" or "name"; '
                'every category needs both.')
    cat_ids = [c['id'] for c in data['categories']]
    dup = _duplicates(cat_ids)
    if dup:
        raise DataCheckError(
            f'{where}: duplicate category id(s) {dup[:10]}; give every '
            'category its own id.')
    names = [str(c['name']) for c in data['categories']]
    dup = _duplicates(names)
    if dup:
        raise DataCheckError(
            f'{where}: duplicate category name(s) {dup[:10]}; merge them '
            'into one category (one id) or rename them.')
    cat_name = {c['id']: str(c['name']) for c in data['categories']}

    images: Dict[Any, str] = {}
    sizes: Dict[Any, Tuple[int, int]] = {}
    for i, img in enumerate(data['images']):
        if isinstance(img, dict) and 'file_name' not in img and \
                'coco_url' in img:
            # LVIS: the file is the url's last two parts (as mmdet reads it)
            img = dict(img, file_name='/'.join(
                str(img['coco_url']).rsplit('/', 2)[-2:]))
        missing = [k for k in ('id', 'file_name', 'width', 'height')
                   if not isinstance(img, dict) or k not in img]
        if missing:
            raise DataCheckError(
                f'{where}: image #{i} ({str(img)[:120]}) lacks {missing}; '
                'every image needs "id", "file_name", "width" and "height" '
                '(tools/prepare_custom_dataset.py writes them for a folder '
                'of images).')
        if img['id'] in images:
            raise DataCheckError(
                f'{where}: duplicate image id {img["id"]!r} '
                f'({images[img["id"]]!r} and {img["file_name"]!r}); image '
                'ids must be unique within a file: renumber the images and '
                'their annotations\' "image_id".')
        width, height = (finite_number(img[k]) for k in ('width', 'height'))
        if width is None or height is None or width <= 0 or height <= 0:
            raise DataCheckError(
                f'{where}: image id {img["id"]!r} ({img["file_name"]}) has '
                f'width {img["width"]!r} and height {img["height"]!r}; both '
                'must be positive finite numbers (the image size in pixels): '
                'set them from the file (tools/prepare_custom_dataset.py '
                'writes them for a folder of images).')
        images[img['id']] = str(img['file_name'])
        sizes[img['id']] = (img['width'], img['height'])

    ann_ids = []
    box_counts: Counter = Counter()
    images_of_class: Dict[str, set] = {n: set() for n in names}
    anns = data['annotations']
    for ann in progress(anns, f'check {role} boxes', len(anns)):
        if not isinstance(ann, dict) or 'image_id' not in ann or \
                'category_id' not in ann or 'bbox' not in ann:
            raise DataCheckError(
                f'{where}: annotation {str(ann)[:120]} lacks "image_id", '
                '"category_id" or "bbox".')
        ann_id = ann.get('id')
        ann_ids.append(ann_id)
        img_id = ann['image_id']
        if img_id not in images:
            raise DataCheckError(
                f'{where}: annotation {ann_id} refers to image id '
                f'{img_id!r}, which is not among the file\'s images; add '
                'the image or remove the annotation.')
        img_name = images[img_id]
        if ann['category_id'] not in cat_name:
            raise DataCheckError(
                f'{where}: annotation {ann_id} (image id {img_id}, '
                f'{img_name}) has category_id {ann["category_id"]!r}, which '
                f'is not among the categories {sorted(cat_name, key=str)}; '
                'add the category or fix the annotation\'s category_id.')
        bbox = ann['bbox']
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            raise DataCheckError(
                f'{where}: annotation {ann_id} (image id {img_id}, '
                f'{img_name}) has bbox {bbox!r}; COCO boxes are '
                '[x, y, width, height].')
        coords = [finite_number(v) for v in bbox]
        if None in coords:
            raise DataCheckError(
                f'{where}: annotation {ann_id} (image id {img_id}, '
                f'{img_name}) has bbox {list(bbox)}, which holds a value '
                'that is not a finite number (NaN, Infinity or a string); '
                'fix or remove the annotation.')
        if 'area' in ann and finite_number(ann['area']) is None:
            raise DataCheckError(
                f'{where}: annotation {ann_id} (image id {img_id}, '
                f'{img_name}) has area {ann["area"]!r}, which is not a '
                'finite number; set it to the box\'s (or mask\'s) area in '
                'pixels, or drop the field.')
        x, y, w, h = coords
        if not w > 0 or not h > 0:
            raise DataCheckError(
                f'{where}: annotation {ann_id} (image id {img_id}, '
                f'{img_name}) has a box of non-positive size '
                f'(bbox [x, y, w, h] = {list(bbox)}); COCO boxes are '
                '[x, y, width, height] (not [x1, y1, x2, y2]): fix or remove '
                'the annotation.')
        width, height = sizes[img_id]
        t = BOX_TOLERANCE
        if x < -t or y < -t or x + w > width + t or y + h > height + t:
            raise DataCheckError(
                f'{where}: annotation {ann_id} (image id {img_id}, '
                f'{img_name}) has a box outside its {width}x{height} image '
                f'(bbox [x, y, w, h] = {list(bbox)}, right {x + w:g}, bottom '
                f'{y + h:g}); clip it to the image or check that width / '
                'height of the image are right.')
        name = cat_name[ann['category_id']]
        box_counts[name] += 1
        images_of_class[name].add(img_id)
    dup = _duplicates(i for i in ann_ids if i is not None)
    if dup:
        raise DataCheckError(
            f'{where}: duplicate annotation id(s) {dup[:10]}; give every '
            'annotation its own id.')
    return CocoFileSummary(
        path=path,
        role=role,
        img_dir=img_dir,
        categories=[(c['id'], str(c['name'])) for c in data['categories']],
        images=images,
        image_sizes=sizes,
        box_counts={n: box_counts[n] for n in names},
        image_counts={n: len(images_of_class[n]) for n in names},
        num_annotations=len(anns))


def check_image_files(summary: CocoFileSummary,
                      read_headers: bool = True,
                      progress: Progress = None) -> CocoFileSummary:
    """Check that every image of a file is on disk and loads as expected.

    Args:
        summary: From :func:`check_coco_file`; ``modes`` and ``notes`` are
            filled in place.
        read_headers: Also open every image's header (size and pixel
            format; fast, no pixel is decoded). ``False`` only checks that
            the files exist and are not empty (one ``stat`` each).
        progress: Optional progress wrapper.

    Raises:
        DataCheckError: a missing or empty file, a size that differs from
            the JSON, a file Pillow cannot read, or 16/32-bit images.
    """
    progress = progress or _identity
    where = f'{summary.role} annotation file {summary.path}'
    if not osp.isdir(summary.img_dir):
        raise DataCheckError(
            f'{where}: image directory {summary.img_dir} does not exist; '
            'pass the directory the "file_name" entries are relative to.')
    modes: Counter = Counter()
    high_depth: List[str] = []
    for img_id, name in progress(summary.images.items(),
                                 f'check {summary.role} images',
                                 len(summary.images)):
        path = osp.join(summary.img_dir, name)
        try:
            empty = os.stat(path).st_size == 0
        except OSError:
            raise _missing_image(where, img_id, name,
                                 summary.img_dir) from None
        if empty:
            raise DataCheckError(
                f'{where}: image id {img_id} ({path}) is empty (0 bytes), '
                'the usual trace of an interrupted copy; copy it again or '
                'remove the image and its annotations.')
        if not read_headers:
            continue
        from PIL import Image, UnidentifiedImageError
        try:
            with Image.open(path) as im:
                size, mode = im.size, im.mode
        except FileNotFoundError:
            raise _missing_image(where, img_id, name,
                                 summary.img_dir) from None
        except (UnidentifiedImageError, OSError) as e:
            raise DataCheckError(
                f'{where}: image id {img_id} ({path}) cannot be read as an '
                f'image ({e}); replace or remove it.') from None
        if tuple(size) != tuple(summary.image_sizes[img_id]):
            w, h = summary.image_sizes[img_id]
            raise DataCheckError(
                f'{where}: image id {img_id} ({path}) is {size[0]}x{size[1]} '
                f'on disk but {w}x{h} in the JSON; its boxes would be '
                'misplaced. Fix "width" / "height" (and the boxes if they '
                'were drawn on another size).')
        modes[mode] += 1
        if mode in HIGH_DEPTH_MODES:
            high_depth.append(f'{img_id} ({name}, mode {mode})')
    summary.modes = dict(modes)
    if high_depth:
        raise DataCheckError(
            f'{where}: {len(high_depth)} image(s) have 16/32-bit pixels, '
            f'e.g. image id {high_depth[0]}; the loader (OpenCV, colour '
            'mode) keeps only the high byte, so 12-bit content becomes '
            'nearly black. Convert them to 8-bit RGB with your intensity '
            'window, e.g. in Python: Image.fromarray((np.clip(a / hi, 0, 1) '
            '* 255).astype(np.uint8)).convert("RGB").save(...) with '
            'a = np.asarray(Image.open(path)) and hi its 99.9th percentile.')
    converted = {m: n for m, n in modes.items()
                 if m in COLOUR_CONVERTED_MODES}
    if converted:
        listing = ', '.join(f'{m}: {n}'
                            for m, n in sorted(converted.items()))
        summary.notes.append(
            f'{summary.role}: {sum(converted.values())} image(s) are not '
            f'RGB ({listing}); the loader converts them to 3-channel '
            'colour (grayscale is replicated, alpha dropped): nothing to '
            'do.')
    return summary


def _missing_image(where: str, img_id: Any, name: str,
                   img_dir: str) -> DataCheckError:
    return DataCheckError(
        f'{where}: image id {img_id} ({name}) is not on disk at '
        f'{osp.join(img_dir, name)}; pass the right image directory (the '
        '"file_name" entries are relative to it), copy the image there, or '
        'remove the image and its annotations from the file.')


def check_split(summaries: Sequence[CocoFileSummary],
                labeled_role: str = 'labeled') -> None:
    """Checks across the files of one dataset.

    * the same categories (id and name, any order) in every file that has
      categories;
    * no image (same file on disk) in two files;
    * every class has at least one box in the labeled file.

    Raises:
        DataCheckError: naming the files, the image or class, and the fix.
    """
    with_cats = [s for s in summaries if s.categories]
    if with_cats:
        ref = with_cats[0]
        for other in with_cats[1:]:
            if sorted(other.categories) != sorted(ref.categories):
                only_ref = sorted(set(ref.categories) - set(other.categories))
                only_other = sorted(
                    set(other.categories) - set(ref.categories))
                raise DataCheckError(
                    f'categories differ between the {ref.role} file '
                    f'{ref.path} and the {other.role} file {other.path}: '
                    f'only in {ref.role} {only_ref[:10]}, only in '
                    f'{other.role} {only_other[:10]} ((id, name) pairs); '
                    'use the same category list in every file.')
    check_disjoint_images(summaries)
    for s in summaries:
        if s.role != labeled_role:
            continue
        empty = [n for n, c in s.box_counts.items() if c == 0]
        if empty:
            raise DataCheckError(
                f'{len(empty)} class(es) have no box in the {s.role} file '
                f'{s.path}: {empty}. A class without labeled boxes cannot '
                'be learned (no pseudo label can start it): label at least '
                'a few boxes of it, or remove it from "categories" of every '
                'file.')


def check_disjoint_images(summaries: Sequence[CocoFileSummary]) -> None:
    """No image file (same path on disk) in two of the files.

    Raises:
        DataCheckError: naming the image, both files and both image ids.
    """
    seen: Dict[str, Tuple[CocoFileSummary, Any]] = {}
    for s in summaries:
        for img_id, name in s.images.items():
            key = osp.normcase(osp.realpath(osp.join(s.img_dir, name)))
            if key in seen and seen[key][0] is not s:
                first, first_id = seen[key]
                raise DataCheckError(
                    f'image {key} is in the {first.role} file {first.path} '
                    f'(image id {first_id}) and in the {s.role} file '
                    f'{s.path} (image id {img_id}); labeled, unlabeled and '
                    'val images must be different images: remove it from '
                    'one of the files.')
            seen[key] = (s, img_id)


def class_frequency_table(summary: CocoFileSummary) -> List[Dict[str, Any]]:
    """Rows ``{class, boxes, images, image_frequency}`` sorted by boxes
    (most first), for reports."""
    n = max(len(summary.images), 1)
    rows = [
        dict(cls=name, boxes=summary.box_counts[name],
             images=summary.image_counts[name],
             image_frequency=summary.image_counts[name] / n)
        for name in summary.class_names
    ]
    return sorted(rows, key=lambda r: (-r['boxes'], r['cls']))


def list_files(directory: str, extensions: Sequence[str]) -> List[str]:
    """Files under ``directory`` (recursive) with one of ``extensions``
    (lower case, with dot), as sorted paths relative to it."""
    found = []
    for root, _, files in os.walk(directory):
        for name in files:
            if osp.splitext(name)[1].lower() in extensions:
                found.append(osp.relpath(osp.join(root, name), directory))
    return sorted(found)
