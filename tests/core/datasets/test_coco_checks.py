"""``cissod_core.datasets.coco_checks``: the checks of a user's COCO data.

A valid 3-class dataset (labeled / image-only unlabeled / val, tiny PNG
images) is written into ``tmp_path`` and passes every check; each bad-data
test then breaks one thing and asserts on the specific error message: it
names the file, the image / annotation / class and the fix.
"""
import copy
import json
import os
import os.path as osp
import re

import numpy as np
import pytest
from PIL import Image

from cissod_core.datasets import (
    DataCheckError,
    check_coco_file,
    check_image_files,
    check_split,
    class_frequency_table,
    load_coco_json,
)

WIDTH, HEIGHT = 32, 24
CATEGORIES = [dict(id=1, name='cat'), dict(id=2, name='dog'),
              dict(id=7, name='bird')]


def _image(id_, name, width=WIDTH, height=HEIGHT):
    return dict(id=id_, file_name=name, width=width, height=height)


def _ann(id_, image_id, category_id, bbox):
    return dict(id=id_, image_id=image_id, category_id=category_id,
                bbox=list(bbox), area=float(bbox[2] * bbox[3]), iscrowd=0)


def _write_json(path, data):
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=2)
    return str(path)


def _write_png(path, mode='RGB', size=(WIDTH, HEIGHT)):
    Image.new(mode, size).save(str(path))


class Dataset:
    """The valid dataset's files and contents, with helpers to break it."""

    def __init__(self, root):
        self.root = root
        self.img_dir = str(root / 'images')
        (root / 'images').mkdir()
        (root / 'annotations').mkdir()
        # labeled: cat 3 boxes / 2 images, bird 2 / 1, dog 2 / 2
        self.labeled = dict(
            images=[_image(1, 'lab_1.png'), _image(2, 'lab_2.png'),
                    _image(3, 'lab_3.png')],
            annotations=[
                _ann(1, 1, 1, [0, 0, 10, 8]),
                _ann(2, 1, 1, [12, 4, 10, 10]),
                _ann(3, 1, 2, [20, 10, 12, 14]),  # touches the corner
                _ann(4, 2, 1, [2, 2, 5, 5]),
                _ann(5, 2, 7, [8, 8, 6, 6]),
                _ann(6, 2, 7, [16.5, 3.25, 7.5, 9.75]),
                _ann(7, 3, 2, [1, 1, 30, 22]),
            ],
            categories=copy.deepcopy(CATEGORIES))
        self.unlabeled = dict(
            images=[_image(1, 'unl_1.png'), _image(2, 'unl_2.png')],
            annotations=[],
            categories=copy.deepcopy(CATEGORIES))
        self.val = dict(
            images=[_image(10, 'val_1.png'), _image(11, 'val_2.png')],
            annotations=[_ann(100, 10, 1, [3, 3, 8, 8]),
                         _ann(101, 11, 2, [0, 0, 32, 24]),
                         _ann(102, 11, 7, [5, 6, 4, 4])],
            categories=copy.deepcopy(CATEGORIES))
        for data in (self.labeled, self.unlabeled, self.val):
            for img in data['images']:
                _write_png(root / 'images' / img['file_name'])
        self.paths = {role: self.write(role, getattr(self, role))
                      for role in ('labeled', 'unlabeled', 'val')}

    def write(self, role, data, name=None):
        """Write ``data`` as the annotation file of ``role``."""
        path = self.root / 'annotations' / (name or f'{role}.json')
        return _write_json(path, data)

    def image_path(self, name):
        return osp.join(self.img_dir, name)

    def check(self, role, data=None):
        """``check_coco_file`` + ``check_image_files`` of one role, with
        ``data`` (a modified copy) written first when given."""
        if data is not None:
            self.paths[role] = self.write(role, data, f'{role}_bad.json')
        summary = check_coco_file(self.paths[role], self.img_dir, role)
        return check_image_files(summary)

    def check_all(self, **data):
        summaries = [self.check(role, data.get(role))
                     for role in ('labeled', 'unlabeled', 'val')]
        check_split(summaries)
        return summaries


@pytest.fixture
def ds(tmp_path):
    return Dataset(tmp_path)


def _raises(fn, *args, **kwargs) -> str:
    with pytest.raises(DataCheckError) as err:
        fn(*args, **kwargs)
    return str(err.value)


# ---------------------------------------------------------------------------
# the valid dataset
# ---------------------------------------------------------------------------
def test_valid_dataset_passes_all_checks(ds):
    labeled, unlabeled, val = ds.check_all()

    assert labeled.path == ds.paths['labeled'] and labeled.role == 'labeled'
    assert labeled.class_names == ['cat', 'dog', 'bird']
    assert labeled.categories == [(1, 'cat'), (2, 'dog'), (7, 'bird')]
    assert labeled.images == {1: 'lab_1.png', 2: 'lab_2.png',
                              3: 'lab_3.png'}
    assert labeled.image_sizes == {i: (WIDTH, HEIGHT) for i in (1, 2, 3)}
    assert labeled.box_counts == dict(cat=3, dog=2, bird=2)
    assert labeled.image_counts == dict(cat=2, dog=2, bird=1)
    assert labeled.num_annotations == 7
    assert labeled.image_path(2) == ds.image_path('lab_2.png')

    assert unlabeled.num_annotations == 0
    assert unlabeled.box_counts == dict(cat=0, dog=0, bird=0)
    assert unlabeled.images == {1: 'unl_1.png', 2: 'unl_2.png'}
    assert val.box_counts == dict(cat=1, dog=1, bird=1)

    for s, n in ((labeled, 3), (unlabeled, 2), (val, 2)):
        assert s.modes == {'RGB': n}
        assert s.notes == []


def test_load_coco_json_returns_the_content(ds):
    assert load_coco_json(ds.paths['val'], 'val') == ds.val


def test_image_only_file_without_categories_passes_check_split(ds):
    unlabeled = dict(ds.unlabeled, categories=[])
    ds.check_all(unlabeled=unlabeled)


# ---------------------------------------------------------------------------
# the file
# ---------------------------------------------------------------------------
def test_missing_annotation_file(ds, tmp_path):
    path = str(tmp_path / 'annotations' / 'nope.json')
    msg = _raises(check_coco_file, path, ds.img_dir, 'labeled')
    assert f'labeled annotation file {path} does not exist' in msg
    assert 'check the path' in msg


def test_truncated_json_is_named_truncated(ds):
    with open(ds.paths['labeled'], encoding='utf-8') as f:
        text = f.read()
    path = str(ds.root / 'annotations' / 'cut.json')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text[:-10])
    msg = _raises(load_coco_json, path, 'labeled')
    assert f'labeled annotation file {path} ({len(text) - 10} bytes) is ' \
           'not valid JSON at its end' in msg
    assert 'it is probably truncated' in msg
    assert 'Copy or export the file again' in msg


def test_invalid_json_in_the_middle_is_not_called_truncated(ds):
    with open(ds.paths['labeled'], encoding='utf-8') as f:
        text = f.read()
    path = ds.paths['labeled']
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text.replace('"annotations"', '"annotations" 1', 1))
    msg = _raises(load_coco_json, path, 'labeled')
    assert re.search(rf'{re.escape(path)} \(\d+ bytes\) is not valid JSON '
                     r'at character \d+ \(line \d+, column \d+', msg)
    assert 'truncated' not in msg


def test_json_truncated_inside_a_string_is_named_truncated(ds):
    with open(ds.paths['labeled'], encoding='utf-8') as f:
        text = f.read()
    path = str(ds.root / 'annotations' / 'cut.json')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text[:text.rindex('bird') + 2])  # ... "name": "bi
    msg = _raises(load_coco_json, path, 'labeled')
    assert 'probably truncated' in msg


def test_truncated_non_ascii_json_is_named_truncated(ds):
    data = copy.deepcopy(ds.labeled)
    for img in data['images']:
        img['file_name'] = '图像_' + img['file_name']
    text = json.dumps(data, ensure_ascii=False, indent=2)
    path = str(ds.root / 'annotations' / 'cut.json')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text[:-10])
    msg = _raises(load_coco_json, path, 'labeled')
    assert 'probably truncated' in msg


def test_json_list_is_not_a_coco_file(ds):
    path = _write_json(ds.root / 'annotations' / 'list.json',
                       ds.labeled['images'])
    msg = _raises(load_coco_json, path, 'val')
    assert f'val annotation file {path} holds a JSON list, not a COCO ' \
           'object with "images", "annotations" and "categories"' in msg


def test_missing_images_key(ds):
    data = {k: v for k, v in ds.labeled.items() if k != 'images'}
    path = ds.write('labeled', data, 'no_images.json')
    msg = _raises(check_coco_file, path, ds.img_dir, 'labeled')
    assert f'labeled annotation file {path}: "images" is missing' in msg
    assert 'a COCO file needs the lists "images", "annotations" and ' \
           '"categories"' in msg


# ---------------------------------------------------------------------------
# images on disk
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('read_headers', [True, False])
def test_image_missing_on_disk(ds, read_headers):
    summary = check_coco_file(ds.paths['labeled'], ds.img_dir, 'labeled')
    missing = ds.image_path('lab_2.png')
    os.remove(missing)
    msg = _raises(check_image_files, summary, read_headers=read_headers)
    assert f'labeled annotation file {ds.paths["labeled"]}: image id 2 ' \
           f'(lab_2.png) is not on disk at {missing}' in msg
    assert 'pass the right image directory' in msg


def test_image_size_on_disk_differs_from_json(ds):
    data = copy.deepcopy(ds.labeled)
    data['images'][2]['width'] = 40  # lab_3.png is 32x24
    msg = _raises(ds.check, 'labeled', data)
    assert f'labeled annotation file {ds.paths["labeled"]}: image id 3 ' \
           f'({ds.image_path("lab_3.png")}) is 32x24 on disk but 40x24 in ' \
           'the JSON' in msg
    assert 'Fix "width" / "height"' in msg


def test_16_bit_image_raises(ds):
    Image.fromarray(np.full((HEIGHT, WIDTH), 4000, np.uint16)).save(
        ds.image_path('lab_3.png'))
    with Image.open(ds.image_path('lab_3.png')) as im:
        mode = im.mode
    assert mode in ('I;16', 'I')
    msg = _raises(ds.check, 'labeled')
    assert f'labeled annotation file {ds.paths["labeled"]}: 1 image(s) have ' \
           f'16/32-bit pixels, e.g. image id 3 (lab_3.png, mode {mode})' in msg
    assert 'Convert them to 8-bit RGB' in msg


def test_grayscale_and_rgba_images_pass_with_a_note(ds):
    _write_png(ds.image_path('lab_1.png'), 'L')
    _write_png(ds.image_path('lab_3.png'), 'RGBA')
    summary = ds.check('labeled')
    assert summary.modes == {'L': 1, 'RGB': 1, 'RGBA': 1}
    assert len(summary.notes) == 1
    note = summary.notes[0]
    assert note.startswith('labeled: 2 image(s) are not RGB (L: 1, RGBA: 1)')
    assert 'converts them to 3-channel colour' in note


def test_file_that_is_not_an_image_raises(ds):
    with open(ds.image_path('lab_2.png'), 'wb') as f:
        f.write(b'this is not a PNG\x00\x01\x02' * 8)
    msg = _raises(ds.check, 'labeled')
    assert f'labeled annotation file {ds.paths["labeled"]}: image id 2 ' \
           f'({ds.image_path("lab_2.png")}) cannot be read as an image' in msg
    assert 'replace or remove it' in msg


@pytest.mark.parametrize('read_headers', [True, False])
def test_empty_image_file_raises(ds, read_headers):
    """A zero-byte file (an interrupted copy) fails with or without the
    header read: one stat."""
    open(ds.image_path('lab_2.png'), 'wb').close()
    summary = check_coco_file(ds.paths['labeled'], ds.img_dir, 'labeled')
    msg = _raises(check_image_files, summary, read_headers=read_headers)
    assert f'labeled annotation file {ds.paths["labeled"]}: image id 2 ' \
           f'({ds.image_path("lab_2.png")}) is empty (0 bytes)' in msg
    assert 'copy it again' in msg


def test_png_signature_with_a_garbage_body_raises(ds):
    with open(ds.image_path('lab_2.png'), 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + bytes(range(256)) * 4)
    msg = _raises(ds.check, 'labeled')
    assert f'labeled annotation file {ds.paths["labeled"]}: image id 2 ' \
           f'({ds.image_path("lab_2.png")}) cannot be read as an image' in msg


# ---------------------------------------------------------------------------
# boxes, ids, categories
# ---------------------------------------------------------------------------
def _with_bbox(ds, bbox, ann_index=3):
    """The labeled data with annotation ``ann_index`` (id 4, image 2) given
    ``bbox``."""
    data = copy.deepcopy(ds.labeled)
    data['annotations'][ann_index]['bbox'] = bbox
    return data


@pytest.mark.parametrize('bbox', [
    [-1.5, 2, 5, 5],  # left
    [2, -1.25, 5, 5],  # top
    [20, 2, 13.5, 5],  # right: 33.5
    [2, 10, 5, 15.5],  # bottom: 25.5
], ids=['left', 'top', 'right', 'bottom'])
def test_box_outside_the_image(ds, bbox):
    msg = _raises(ds.check, 'labeled', _with_bbox(ds, bbox))
    assert f'labeled annotation file {ds.paths["labeled"]}: annotation 4 ' \
           '(image id 2, lab_2.png) has a box outside its 32x24 image ' \
           f'(bbox [x, y, w, h] = {bbox}, right {bbox[0] + bbox[2]:g}, ' \
           f'bottom {bbox[1] + bbox[3]:g})' in msg
    assert 'clip it to the image' in msg


def test_box_within_the_1px_tolerance_passes(ds):
    summary = ds.check('labeled', _with_bbox(ds, [-1, -0.5, 34, 25.5]))
    assert summary.box_counts == dict(cat=3, dog=2, bird=2)


@pytest.mark.parametrize('bbox,case', [
    ([5, 5, 0, 4], 'zero width'),
    ([5, 5, 4, -2], 'negative height'),
])
def test_box_of_non_positive_size(ds, bbox, case):
    msg = _raises(ds.check, 'labeled', _with_bbox(ds, bbox))
    assert f'labeled annotation file {ds.paths["labeled"]}: annotation 4 ' \
           '(image id 2, lab_2.png) has a box of non-positive size ' \
           f'(bbox [x, y, w, h] = {bbox})' in msg, case
    assert '(not [x1, y1, x2, y2])' in msg


@pytest.mark.parametrize('bbox', [
    [float('nan'), 10, 5, 8], [2, 2, float('inf'), 5],
    [2, 2, 5, -float('inf')], [2, '2', 5, 5]],
    ids=['nan-x', 'inf-w', 'minus-inf-h', 'string'])
def test_box_with_a_non_finite_number(ds, bbox):
    """NaN passes every <= / < comparison; JSON writes and reads it."""
    msg = _raises(ds.check, 'labeled', _with_bbox(ds, bbox))
    assert f'labeled annotation file {ds.paths["labeled"]}: annotation 4 ' \
           f'(image id 2, lab_2.png) has bbox {bbox}, which holds a value ' \
           'that is not a finite number' in msg
    assert 'fix or remove the annotation' in msg


def test_area_that_is_not_finite(ds):
    data = copy.deepcopy(ds.labeled)
    data['annotations'][3]['area'] = float('nan')
    msg = _raises(ds.check, 'labeled', data)
    assert 'annotation 4 (image id 2, lab_2.png) has area nan, which is ' \
           'not a finite number' in msg


@pytest.mark.parametrize('key,value', [
    ('width', float('nan')), ('height', float('inf')), ('width', 0),
    ('height', '24')])
def test_image_size_that_is_not_a_positive_finite_number(ds, key, value):
    data = copy.deepcopy(ds.labeled)
    data['images'][1][key] = value
    msg = _raises(ds.check, 'labeled', data)
    assert f'labeled annotation file {ds.paths["labeled"]}: image id 2 ' \
           '(lab_2.png) has width' in msg
    assert 'must be positive finite numbers' in msg


def test_category_id_not_among_categories(ds):
    data = copy.deepcopy(ds.labeled)
    data['annotations'][4]['category_id'] = 3
    msg = _raises(ds.check, 'labeled', data)
    assert f'labeled annotation file {ds.paths["labeled"]}: annotation 5 ' \
           '(image id 2, lab_2.png) has category_id 3, which is not among ' \
           'the categories [1, 2, 7]' in msg
    assert "add the category or fix the annotation's category_id" in msg


def test_annotation_with_unknown_image_id(ds):
    data = copy.deepcopy(ds.val)
    data['annotations'][1]['image_id'] = 12
    msg = _raises(ds.check, 'val', data)
    assert f'val annotation file {ds.paths["val"]}: annotation 101 refers ' \
           "to image id 12, which is not among the file's images" in msg
    assert 'add the image or remove the annotation' in msg


def test_duplicate_image_ids(ds):
    data = copy.deepcopy(ds.unlabeled)
    data['images'][1]['id'] = 1
    msg = _raises(ds.check, 'unlabeled', data)
    assert f'unlabeled annotation file {ds.paths["unlabeled"]}: duplicate ' \
           "image id 1 ('unl_1.png' and 'unl_2.png')" in msg
    assert 'renumber the images' in msg


def test_duplicate_annotation_ids(ds):
    data = copy.deepcopy(ds.labeled)
    data['annotations'][5]['id'] = 3
    msg = _raises(ds.check, 'labeled', data)
    assert f'labeled annotation file {ds.paths["labeled"]}: duplicate ' \
           'annotation id(s) [3]' in msg
    assert 'give every annotation its own id' in msg


# ---------------------------------------------------------------------------
# the split
# ---------------------------------------------------------------------------
def test_same_image_in_labeled_and_val(ds):
    val = copy.deepcopy(ds.val)
    val['images'][1]['file_name'] = 'lab_1.png'  # val image id 11
    msg = _raises(ds.check_all, val=val)
    image = osp.normcase(osp.realpath(ds.image_path('lab_1.png')))
    assert f'image {image} is in the labeled file {ds.paths["labeled"]} ' \
           f'(image id 1) and in the val file {ds.paths["val"]} (image id ' \
           '11)' in msg
    assert 'labeled, unlabeled and val images must be different images' \
        in msg


def test_categories_differ_between_labeled_and_val(ds):
    val = copy.deepcopy(ds.val)
    val['categories'][2]['name'] = 'birds'
    msg = _raises(ds.check_all, val=val)
    assert f'categories differ between the labeled file ' \
           f'{ds.paths["labeled"]} and the val file {ds.paths["val"]}: only ' \
           "in labeled [(7, 'bird')], only in val [(7, 'birds')]" in msg
    assert 'use the same category list in every file' in msg


def test_class_without_labeled_box(ds):
    labeled = copy.deepcopy(ds.labeled)
    labeled['annotations'] = [a for a in labeled['annotations']
                              if a['category_id'] != 7]
    msg = _raises(ds.check_all, labeled=labeled)
    assert f"1 class(es) have no box in the labeled file " \
           f"{ds.paths['labeled']}: ['bird']" in msg
    assert 'label at least a few boxes of it' in msg


# ---------------------------------------------------------------------------
# class_frequency_table
# ---------------------------------------------------------------------------
def test_class_frequency_table(ds):
    labeled = ds.check('labeled')
    table = class_frequency_table(labeled)
    # by boxes (most first), ties by name: not by images, not file order
    assert [r['cls'] for r in table] == ['cat', 'bird', 'dog']
    assert [(r['boxes'], r['images']) for r in table] == [(3, 2), (2, 1),
                                                          (2, 2)]
    assert [r['image_frequency'] for r in table] == pytest.approx(
        [2 / 3, 1 / 3, 2 / 3])

    unlabeled = ds.check('unlabeled')
    assert [(r['cls'], r['boxes'], r['image_frequency'])
            for r in class_frequency_table(unlabeled)] == [
                ('bird', 0, 0.0), ('cat', 0, 0.0), ('dog', 0, 0.0)]


@pytest.mark.parametrize('bad', [
    dict(score=float('nan')), dict(score=float('inf')), dict(score='0.5'),
    dict(bbox=[1.0, float('nan'), 3.0, 4.0]),
    dict(bbox=[1.0, 2.0, float('-inf'), 4.0])])
def test_check_finite_predictions(bad):
    from cissod_core.datasets import check_finite_predictions
    good = dict(image_id=1, category_id=2, score=0.5, bbox=[1., 2., 3., 4.])
    check_finite_predictions([good, good], 'r.json')
    check_finite_predictions([dict(image_id=1, category_id=2, score=0.3)],
                             'segm.json')  # no bbox key: segm results
    with pytest.raises(DataCheckError,
                       match=r'result file r\.json: 1 of 3 detections hold '
                       r'a number that is not finite, e\.g\. image id 7, '
                       'category id 2'):
        check_finite_predictions([good, dict(good, image_id=7, **bad), good],
                                 'r.json')
