"""Tests of the synthetic demo dataset and the CI-SSOD split construction."""
import json
import os
import os.path as osp
import random
import subprocess
import sys

import pytest

from cissod_core.demo import synthetic_shapes as ss
from cissod_core.splits import build_ci_ssod_split, format_split_stats

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
SMALL = dict(seed=0, num_train=200, num_val=60, img_size=128,
             labeled_fraction=0.1)
ANN_NAMES = ('train_labeled', 'train_unlabeled', 'train_unlabeled_gt',
             'train_full_gt', 'val')


def _load(out_dir, name):
    with open(osp.join(out_dir, 'annotations', f'{name}.json')) as f:
        return json.load(f)


def _read_bytes(path):
    with open(path, 'rb') as f:
        return f.read()


def _counts(coco):
    counts = {c['name']: 0 for c in coco['categories']}
    names = {c['id']: c['name'] for c in coco['categories']}
    for a in coco['annotations']:
        counts[names[a['category_id']]] += 1
    return counts


@pytest.fixture(scope='module')
def demo_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('demo') / 'd0')
    meta = ss.generate_demo_dataset(out, verbose=False, **SMALL)
    return out, meta


# ---------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------
def test_constants():
    assert len(ss.DEMO_CLASSES) == 8 == len(set(ss.DEMO_CLASSES))
    assert ss.MAJORITY_CLASSES == ss.DEMO_CLASSES[:5]
    assert ss.MINORITY_CLASSES == ss.DEMO_CLASSES[5:]
    assert len(set(ss.DEMO_PALETTE)) == 8
    # every class is a unique (shape, colour) pair; two minority classes
    # deliberately share the shape or the hue of a majority class
    pairs = [(spec[1], spec[2]) for spec in ss._CLASS_SPECS]
    assert len(set(pairs)) == 8
    shape = {spec[0]: spec[1] for spec in ss._CLASS_SPECS}
    assert shape['orange_circle'] == shape['red_circle']
    assert shape['green_diamond'] != shape['green_square']


def test_files_and_meta(demo_dir):
    out, meta = demo_dir
    assert meta == json.load(open(osp.join(out, 'meta.json')))
    assert meta['classes'] == list(ss.DEMO_CLASSES)
    assert meta['majority'] == list(ss.MAJORITY_CLASSES)
    assert meta['minority'] == list(ss.MINORITY_CLASSES)
    assert meta['seed'] == 0 and meta['version'] == ss.GENERATOR_VERSION
    for name in ANN_NAMES:
        assert osp.isfile(osp.join(out, meta['files'][name]))
    assert len(os.listdir(osp.join(out, 'images/train'))) == 200
    assert len(os.listdir(osp.join(out, 'images/val'))) == 60
    # meta.json is the completion marker: written after everything else.
    meta_mtime = os.stat(osp.join(out, 'meta.json')).st_mtime_ns
    for name in ANN_NAMES:
        path = osp.join(out, meta['files'][name])
        assert os.stat(path).st_mtime_ns <= meta_mtime
    for name in ANN_NAMES:
        coco = _load(out, name)
        assert [c['id'] for c in coco['categories']] == list(range(1, 9))
        assert [c['name'] for c in coco['categories']] == list(
            ss.DEMO_CLASSES)
        assert 'info' in coco and 'licenses' in coco
        ids = [im['id'] for im in coco['images']]
        assert ids == sorted(ids)


def test_images_match_annotations(demo_dir):
    from PIL import Image
    out, _ = demo_dir
    val = _load(out, 'val')
    im = val['images'][0]
    img = Image.open(osp.join(out, 'images/val', im['file_name']))
    assert img.size == (im['width'], im['height']) == (128, 128)
    assert img.mode == 'RGB'
    # The annotated box actually contains the (saturated) drawn shape.
    import numpy as np
    arr = np.asarray(img).astype(np.int32)
    ann = next(a for a in val['annotations'] if a['image_id'] == im['id'])
    x, y, w, h = ann['bbox']
    colour = np.asarray(ss.DEMO_PALETTE[ann['category_id'] - 1])
    inside = arr[int(y):int(y + h), int(x):int(x + w)]
    dist = np.abs(inside - colour).sum(-1)
    assert (dist < 90).mean() > 0.2


def test_determinism(demo_dir, tmp_path):
    out0, _ = demo_dir
    out1 = str(tmp_path / 'same')
    out2 = str(tmp_path / 'other')
    ss.generate_demo_dataset(out1, verbose=False, **SMALL)
    ss.generate_demo_dataset(out2, verbose=False, **dict(SMALL, seed=1))
    for name in ANN_NAMES:
        rel = f'annotations/{name}.json'
        assert _read_bytes(osp.join(out0, rel)) == _read_bytes(
            osp.join(out1, rel)), name
        assert _read_bytes(osp.join(out0, rel)) != _read_bytes(
            osp.join(out2, rel)), name
    for rel in ('images/train/000001.png', 'images/train/000137.png',
                'images/val/000042.png'):
        assert _read_bytes(osp.join(out0, rel)) == _read_bytes(
            osp.join(out1, rel)), rel
        assert _read_bytes(osp.join(out0, rel)) != _read_bytes(
            osp.join(out2, rel)), rel


def test_boxes_valid(demo_dir):
    out, _ = demo_dir
    for name in ANN_NAMES:
        coco = _load(out, name)
        sizes = {im['id']: (im['width'], im['height'])
                 for im in coco['images']}
        ann_ids = [a['id'] for a in coco['annotations']]
        assert len(ann_ids) == len(set(ann_ids))
        for a in coco['annotations']:
            x, y, w, h = a['bbox']
            width, height = sizes[a['image_id']]
            assert all(isinstance(v, float) for v in a['bbox'])
            assert 0 <= x and 0 <= y and w > 0 and h > 0
            assert x + w <= width and y + h <= height
            assert 0 < a['area'] <= w * h + 1e-6
            assert a['iscrowd'] == 0
            assert 1 <= a['category_id'] <= 8
            assert isinstance(a['id'], int) and isinstance(a['image_id'], int)


def test_low_overlap(demo_dir):
    out, _ = demo_dir
    full = _load(out, 'train_full_gt')
    by_img = {}
    for a in full['annotations']:
        by_img.setdefault(a['image_id'], []).append(a['bbox'])
    n_multi = 0
    for boxes in by_img.values():
        n_multi += len(boxes) > 1
        for i in range(len(boxes)):
            for j in range(i):
                x0, y0, w0, h0 = boxes[i]
                x1, y1, w1, h1 = boxes[j]
                iw = min(x0 + w0, x1 + w1) - max(x0, x1)
                ih = min(y0 + h0, y1 + h1) - max(y0, y1)
                inter = max(iw, 0) * max(ih, 0)
                assert inter / (w0 * h0 + w1 * h1 - inter) <= ss.MAX_IOU
    assert n_multi > 50
    per_img = [len(b) for b in by_img.values()]
    assert min(per_img) >= ss.MIN_OBJECTS and max(per_img) <= ss.MAX_OBJECTS


def test_split_invariants(demo_dir):
    out, meta = demo_dir
    lab = _load(out, 'train_labeled')
    unl = _load(out, 'train_unlabeled')
    unl_gt = _load(out, 'train_unlabeled_gt')
    full = _load(out, 'train_full_gt')
    minority_ids = {ss.DEMO_CLASSES.index(n) + 1 for n in ss.MINORITY_CLASSES}

    lab_ids = {im['id'] for im in lab['images']}
    unl_ids = {im['id'] for im in unl['images']}
    assert lab_ids.isdisjoint(unl_ids)
    assert lab_ids | unl_ids == set(range(1, 201))
    assert unl['annotations'] == []
    assert unl_gt['images'] == unl['images']

    full_by_img = {}
    for a in full['annotations']:
        full_by_img.setdefault(a['image_id'], []).append(a)
    # unlabeled_gt holds exactly the true boxes of the unlabeled images.
    assert unl_gt['annotations'] == [
        a for a in full['annotations'] if a['image_id'] in unl_ids]
    assert len(unl_gt['annotations']) > 0

    few_shot = set(meta['few_shot_image_ids'])
    assert few_shot and few_shot <= lab_ids
    majority_only = lab_ids - few_shot
    assert len(majority_only) == round(0.1 * 200)
    lab_by_img = {}
    for a in lab['annotations']:
        lab_by_img.setdefault(a['image_id'], []).append(a)
    for img_id in lab_ids:
        got = lab_by_img.get(img_id, [])
        if img_id in few_shot:  # few-shot images keep all their boxes
            assert got == full_by_img.get(img_id, [])
            assert any(a['category_id'] in minority_ids for a in got)
        else:  # majority-only images: exactly the majority boxes
            assert got == [a for a in full_by_img.get(img_id, [])
                           if a['category_id'] not in minority_ids]
    # ... hence every labeled minority box comes from a few-shot image.
    for a in lab['annotations']:
        if a['category_id'] in minority_ids:
            assert a['image_id'] in few_shot
    # Some minority boxes really were hidden in majority-only images.
    hidden = [a for i in majority_only for a in full_by_img.get(i, [])
              if a['category_id'] in minority_ids]
    assert sum(meta['class_stats'][n]['train_hidden_boxes']
               for n in ss.MINORITY_CLASSES) == len(hidden)

    lab_counts = _counts(lab)
    for name in ss.MINORITY_CLASSES:
        assert lab_counts[name] >= ss.DEFAULT_MIN_MINORITY_BOXES, (
            name, lab_counts)
        assert meta['class_stats'][name]['train_labeled_boxes'] == \
            lab_counts[name]
    for name in ss.MAJORITY_CLASSES:
        assert lab_counts[name] > 0


def test_long_tail(demo_dir):
    out, meta = demo_dir
    train = _counts(_load(out, 'train_full_gt'))
    counts = [train[n] for n in ss.DEMO_CLASSES]
    assert all(a > b for a, b in zip(counts, counts[1:])), counts
    assert min(train[n] for n in ss.MAJORITY_CLASSES) > max(
        train[n] for n in ss.MINORITY_CLASSES)
    head = counts[0] / sum(counts)
    assert 0.3 < head < 0.45, head
    assert counts[0] > 8 * counts[-1]
    val = _counts(_load(out, 'val'))
    assert min(val.values()) >= 10, val
    assert max(val.values()) < 3 * min(val.values()), val  # flatter
    for name in ss.DEMO_CLASSES:
        assert meta['class_stats'][name]['val_boxes'] == val[name]
        assert meta['class_stats'][name]['train_boxes'] == train[name]


def test_default_size_distribution():
    """The class quota of the default train/val sizes (no rendering)."""
    k = len(ss.DEMO_CLASSES)
    train = ss._class_quota(3000, [ss.TRAIN_TAIL_RATIO**i for i in range(k)],
                            floor=20)
    assert sum(train) == 3000
    assert 0.35 <= train[0] / 3000 <= 0.40
    assert all(a > b for a, b in zip(train, train[1:]))
    assert train[-1] >= 30
    val = ss._class_quota(
        750, [ss.TRAIN_TAIL_RATIO**(ss.VAL_FLATTEN * i) for i in range(k)])
    assert min(val) >= 60


# ---------------------------------------------------------------------------
# build_ci_ssod_split on hand-made data
# ---------------------------------------------------------------------------
def _toy_coco(img_boxes, names=('a', 'b', 'm', 'n')):
    """img_boxes: {image_id: [category_name, ...]}."""
    cats = [dict(id=i + 1, name=n) for i, n in enumerate(names)]
    cid = {n: i + 1 for i, n in enumerate(names)}
    images, anns = [], []
    for img_id, boxes in img_boxes.items():
        images.append(dict(id=img_id, file_name=f'{img_id}.png', width=50,
                           height=50))
        for name in boxes:
            anns.append(dict(id=len(anns) + 1, image_id=img_id,
                             category_id=cid[name], bbox=[1.0, 2.0, 3.0, 4.0],
                             area=12.0, iscrowd=0))
    return dict(info=dict(description='toy'), licenses=[dict(id=1)],
                images=images, annotations=anns, categories=cats)


def _ann_ids_by_img(coco):
    out = {}
    for a in coco['annotations']:
        out.setdefault(a['image_id'], []).append(a['id'])
    return out


def test_split_known_answer_fewshot_only():
    # No majority-only part: only image 30 can supply the 2 'm' boxes.
    coco = _toy_coco({10: ['a', 'b'], 20: ['a'], 30: ['m', 'a', 'm'],
                      40: ['b', 'n'], 50: []})
    lab, unl, unl_gt, stats = build_ci_ssod_split(
        coco, ['m', 'n'], labeled_fraction=0.0, min_minority_boxes=1)
    # 'm' only occurs in image 30 and 'n' only in image 40: both images are
    # the few-shot images, with all their boxes; the rest is unlabeled.
    assert [im['id'] for im in lab['images']] == [30, 40]
    assert [a['id'] for a in lab['annotations']] == [4, 5, 6, 7, 8]
    assert [im['id'] for im in unl['images']] == [10, 20, 50]
    assert unl['annotations'] == []
    assert [a['id'] for a in unl_gt['annotations']] == [1, 2, 3]
    assert stats['few_shot_image_ids'] == [30, 40]
    assert stats['majority_only_image_ids'] == []
    pc = stats['per_class']
    assert pc['m'] == dict(category_id=3, group='minority', labeled_boxes=2,
                           labeled_images=1, unlabeled_boxes=0,
                           unlabeled_images=0, hidden_boxes=0, total_boxes=2)
    assert pc['a']['group'] == 'majority'
    assert (pc['a']['labeled_boxes'], pc['a']['unlabeled_boxes']) == (1, 2)
    assert (pc['b']['labeled_boxes'], pc['b']['unlabeled_boxes']) == (1, 1)
    for out in (lab, unl, unl_gt):
        assert out['categories'] == coco['categories']
        assert out['info'] == coco['info']
        assert out['licenses'] == coco['licenses']
    # The input is not modified.
    assert coco == _toy_coco({10: ['a', 'b'], 20: ['a'], 30: ['m', 'a', 'm'],
                              40: ['b', 'n'], 50: []})


def test_split_known_answer_all_majority_only():
    coco = _toy_coco({1: ['a', 'm'], 2: ['m'], 3: ['b', 'a']})
    lab, unl, unl_gt, stats = build_ci_ssod_split(
        coco, ['m'], labeled_fraction=1.0, min_minority_boxes=0)
    assert [im['id'] for im in lab['images']] == [1, 2, 3]  # 2 has no box
    assert [a['id'] for a in lab['annotations']] == [1, 4, 5]
    assert unl['images'] == [] and unl_gt['annotations'] == []
    assert stats['per_class']['m']['hidden_boxes'] == 2
    assert stats['per_class']['m']['labeled_boxes'] == 0


def test_split_counts_any_seed():
    # 8 identical images (1 'a' + 1 'm'): 25% majority-only = 2 images,
    # then 3 few-shot images for min_minority_boxes=3, 3 stay unlabeled.
    coco = _toy_coco({i: ['a', 'm'] for i in range(1, 9)})
    for seed in range(5):
        lab, unl, unl_gt, stats = build_ci_ssod_split(
            coco, ['m'], labeled_fraction=0.25, min_minority_boxes=3,
            seed=seed)
        assert stats['num_images'] == dict(total=8, labeled=5,
                                           majority_only=2, few_shot=3,
                                           unlabeled=3)
        pc = stats['per_class']
        assert (pc['a']['labeled_boxes'], pc['m']['labeled_boxes']) == (5, 3)
        assert (pc['a']['unlabeled_boxes'], pc['m']['unlabeled_boxes']) == (
            3, 3)
        assert pc['m']['hidden_boxes'] == 2
        assert len(unl['images']) == 3 and len(unl_gt['annotations']) == 6
        for img_id, ids in _ann_ids_by_img(lab).items():
            expected = 2 if img_id in stats['few_shot_image_ids'] else 1
            assert len(ids) == expected


def test_split_deterministic_and_order_invariant():
    rng = random.Random(0)
    boxes = {i: [rng.choice('aabbbmn') for _ in range(rng.randint(0, 4))]
             for i in range(1, 61)}
    coco = _toy_coco(boxes)
    res1 = build_ci_ssod_split(coco, ['m', 'n'], min_minority_boxes=3, seed=3)
    shuffled = dict(coco, images=list(coco['images']),
                    annotations=list(coco['annotations']))
    rng.shuffle(shuffled['images'])
    rng.shuffle(shuffled['annotations'])
    res2 = build_ci_ssod_split(shuffled, ['m', 'n'], min_minority_boxes=3,
                               seed=3)
    assert json.dumps(res1) == json.dumps(res2)
    res3 = build_ci_ssod_split(coco, ['m', 'n'], min_minority_boxes=3, seed=4)
    assert json.dumps(res1[0]) != json.dumps(res3[0])
    lab, unl, _, stats = res1
    assert stats['per_class']['m']['labeled_boxes'] >= 3
    assert stats['per_class']['n']['labeled_boxes'] >= 3
    assert {im['id'] for im in lab['images']}.isdisjoint(
        {im['id'] for im in unl['images']})


def test_split_errors():
    coco = _toy_coco({1: ['a', 'm'], 2: ['b', 'm'], 3: ['a', 'n']})
    with pytest.raises(ValueError) as exc:
        build_ci_ssod_split(coco, ['m', 'zebra', 'dog'])
    msg = str(exc.value)
    assert 'zebra' in msg and 'dog' in msg
    for name in ('a', 'b', 'm', 'n'):  # lists the available names
        assert repr(name) in msg
    with pytest.raises(ValueError, match="'n'"):  # only 1 'n' box exists
        build_ci_ssod_split(coco, ['m', 'n'], labeled_fraction=0.0,
                            min_minority_boxes=2)
    with pytest.raises(ValueError):
        build_ci_ssod_split(coco, ['m'], labeled_fraction=1.5)


def test_format_split_stats():
    coco = _toy_coco({i: ['a', 'm'] for i in range(1, 9)})
    stats = build_ci_ssod_split(coco, ['m'], labeled_fraction=0.25,
                                min_minority_boxes=3)[3]
    table = format_split_stats(stats, extra_columns={'val_boxes': {'a': 7}})
    lines = table.splitlines()
    assert 'class' in lines[0] and 'val_boxes' in lines[0]
    row_m = next(line for line in lines if ' m ' in line)
    assert 'minority' in row_m and row_m.split()[3:7] == ['3', '3', '3', '2']
    assert any(line.split()[:1] == ['TOTAL'] for line in lines)
    assert 'few-shot=3' in table


# ---------------------------------------------------------------------------
# ensure_demo_data / CLI
# ---------------------------------------------------------------------------
def test_ensure_demo_data(tmp_path):
    out = str(tmp_path / 'demo')
    params = dict(seed=0, num_train=120, num_val=20, img_size=64,
                  verbose=False)
    meta = ss.ensure_demo_data(out, **params)
    assert ss.is_demo_data_up_to_date(out, **params)
    meta_path = osp.join(out, 'meta.json')
    img_path = osp.join(out, 'images/train/000001.png')
    ann_path = osp.join(out, 'annotations/train_labeled.json')
    stamp = [os.stat(p).st_mtime_ns for p in (meta_path, img_path, ann_path)]

    # Up to date: nothing is rewritten.
    assert ss.ensure_demo_data(out, **params) == meta
    assert [os.stat(p).st_mtime_ns
            for p in (meta_path, img_path, ann_path)] == stamp

    # CLI with the same parameters reports it is up to date.
    proc = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools/make_demo_data.py'),
         '--out', out, '--num-train', '120', '--num-val', '20',
         '--img-size', '64'], capture_output=True, text=True, cwd=REPO_ROOT,
        timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'up to date' in proc.stdout
    assert 'white_star' in proc.stdout and 'minority' in proc.stdout
    assert os.stat(img_path).st_mtime_ns == stamp[1]

    # meta.json missing (e.g. interrupted generation): regenerated.
    os.remove(meta_path)
    assert not ss.is_demo_data_up_to_date(out, **params)
    assert ss.ensure_demo_data(out, **params) == meta
    assert osp.isfile(meta_path)
    assert os.stat(img_path).st_mtime_ns != stamp[1]

    # Different parameters or generator version: regenerated.
    stamp_img = os.stat(img_path).st_mtime_ns
    assert not ss.is_demo_data_up_to_date(out, **dict(params, seed=1))
    meta1 = ss.ensure_demo_data(out, **dict(params, seed=1))
    assert meta1['seed'] == 1 and os.stat(img_path).st_mtime_ns != stamp_img
    with open(meta_path) as f:
        stale = json.load(f)
    stale['version'] = 'old'
    with open(meta_path, 'w') as f:
        json.dump(stale, f)
    assert ss.ensure_demo_data(out, **dict(params, seed=1)) == meta1

    # Missing images are detected too.
    os.remove(img_path)
    assert not ss.is_demo_data_up_to_date(out, **dict(params, seed=1))


def _make_small_demo_data_cli(tmp_path, *extra: str) -> str:
    """Run tools/make_demo_data.py on a small dataset; return its dir."""
    out = str(tmp_path / 'demo')
    proc = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools/make_demo_data.py'),
         '--out', out, '--num-train', '120', '--num-val', '20',
         '--img-size', '64', *extra],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out


def test_make_demo_data_cli_labeled_fraction(tmp_path):
    """--labeled-fraction reaches the split (majority-only labeled images)."""
    out = _make_small_demo_data_cli(tmp_path, '--labeled-fraction', '0.2')
    meta = ss.load_demo_meta(out)
    assert meta['labeled_fraction'] == 0.2
    assert meta['num_images']['majority_only'] == 24
    assert ss.is_demo_data_up_to_date(
        out, seed=0, num_train=120, num_val=20, img_size=64,
        labeled_fraction=0.2)
    assert not ss.is_demo_data_up_to_date(
        out, seed=0, num_train=120, num_val=20, img_size=64)


def test_make_demo_data_cli_min_minority_boxes(tmp_path):
    """--min-minority-boxes reaches the split and the up-to-date check."""
    out = _make_small_demo_data_cli(tmp_path, '--min-minority-boxes', '3')
    meta = ss.load_demo_meta(out)
    assert meta['min_minority_boxes'] == 3
    for name in ss.MINORITY_CLASSES:
        labeled = meta['class_stats'][name]['train_labeled_boxes']
        # few-shot images are added until the class has >= 3 boxes; the
        # last one may bring up to MAX_OBJECTS - 1 more
        assert 3 <= labeled < 3 + ss.MAX_OBJECTS, (name, labeled)
    assert ss.is_demo_data_up_to_date(
        out, seed=0, num_train=120, num_val=20, img_size=64,
        min_minority_boxes=3)
    assert not ss.is_demo_data_up_to_date(
        out, seed=0, num_train=120, num_val=20, img_size=64,
        min_minority_boxes=ss.DEFAULT_MIN_MINORITY_BOXES)


def test_tail_ratio_one_balances_train_and_keeps_the_split_imbalanced(
        tmp_path):
    """tail_ratio=1: classes equally frequent in the train images, minority
    classes rare only in the labeled split (as COCO split1's VOC classes)."""
    out = str(tmp_path / 'demo')
    meta = ss.generate_demo_dataset(out, num_train=300, num_val=40,
                                    img_size=64, tail_ratio=1.0,
                                    verbose=False)
    assert meta['tail_ratio'] == 1.0
    assert ss.is_demo_data_up_to_date(out, num_train=300, num_val=40,
                                      img_size=64, tail_ratio=1.0)
    assert not ss.is_demo_data_up_to_date(out, num_train=300, num_val=40,
                                          img_size=64)
    stats = meta['class_stats']
    train = [stats[n]['train_boxes'] for n in ss.DEMO_CLASSES]
    assert max(train) - min(train) <= 1, train
    for name in ss.MINORITY_CLASSES:
        assert stats[name]['train_labeled_boxes'] >= \
            ss.DEFAULT_MIN_MINORITY_BOXES
        assert stats[name]['train_unlabeled_boxes'] > \
            5 * stats[name]['train_labeled_boxes']
    with pytest.raises(ValueError, match='tail_ratio'):
        ss.generate_demo_dataset(out, tail_ratio=0.0, verbose=False)
