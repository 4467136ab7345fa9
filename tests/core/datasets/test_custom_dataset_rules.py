"""The documented rules for a user's own dataset: majority / minority
classes, the labeled RFS threshold, schedule scaling and the image-only COCO
file of a folder of unlabeled images (``cissod_core.datasets``)."""
import json
import math
import os
import os.path as osp
from dataclasses import fields

import numpy as np
import pytest
from PIL import Image

from cissod_core.datasets import (
    DataCheckError,
    ReferenceSchedule,
    check_coco_file,
    check_image_files,
    image_folder_to_coco,
    rfs_threshold_for,
    scale_schedule,
    schedule_factor,
    split_majority_minority,
)

#: Labeled box counts of the CPU demo dataset.
DEMO_BOX_COUNTS = {
    'red_circle': 156, 'green_square': 77, 'blue_triangle': 62,
    'yellow_cross': 35, 'magenta_ring': 19, 'green_diamond': 11,
    'orange_circle': 10, 'white_star': 10
}
#: The tiny CPU demo's reference schedule.
DEMO_SCHEDULE = ReferenceSchedule(
    images=1871, images_per_iter=4, max_iters=1000, val_interval=1000,
    checkpoint_interval=1000, gbr_warmup_iters=200, ssod_warmup_iters=300,
    crs_interval=200, lr_warmup_iters=50)
#: A COCO-like reference (180k iterations, steps incl. one at the end).
COCO_LIKE = ReferenceSchedule(
    images=100000, images_per_iter=40, max_iters=180000, val_interval=4000,
    checkpoint_interval=4000, gbr_warmup_iters=8000, ssod_warmup_iters=10000,
    crs_interval=1000, lr_warmup_iters=500,
    lr_steps=(120000, 160000, 180000))
#: Settings scaled with the schedule (the LR warm-up keeps its iterations).
ITER_FIELDS = ('max_iters', 'val_interval', 'checkpoint_interval',
               'gbr_warmup_iters', 'ssod_warmup_iters', 'crs_interval')


# ---------------------------------------------------------------------------
# split_majority_minority
# ---------------------------------------------------------------------------
def test_demo_counts_give_5_majority_and_3_minority_classes():
    majority, minority = split_majority_minority(DEMO_BOX_COUNTS)
    assert majority == ['red_circle', 'green_square', 'blue_triangle',
                        'yellow_cross', 'magenta_ring']
    # 10 / 10 tie broken by name
    assert minority == ['green_diamond', 'orange_circle', 'white_star']
    # the 5 hold >= 90% of the boxes (349 of 380), the first 4 do not (330)
    assert sum(DEMO_BOX_COUNTS[c] for c in majority) >= 0.9 * 380
    assert sum(DEMO_BOX_COUNTS[c] for c in majority[:4]) < 0.9 * 380


def test_share_1_makes_every_class_majority():
    majority, minority = split_majority_minority(DEMO_BOX_COUNTS, 1.0)
    assert majority == sorted(DEMO_BOX_COUNTS,
                              key=lambda c: (-DEMO_BOX_COUNTS[c], c))
    assert minority == []


def test_single_dominant_class_is_the_only_majority_class():
    counts = dict(zebra=1, car=5000, bus=3, ant=3)
    assert split_majority_minority(counts) == (['car'], ['ant', 'bus',
                                                         'zebra'])
    # exactly the share is enough
    assert split_majority_minority(dict(a=9, b=1), 0.9) == (['a'], ['b'])
    # a dataset of one class: it is the majority
    assert split_majority_minority(dict(only=7)) == (['only'], [])


def test_ties_are_broken_by_name():
    counts = dict(b=5, a=5, c=1)
    # 40% of 11 boxes: the first of the tied classes already holds it
    assert split_majority_minority(counts, 0.4) == (['a'], ['b', 'c'])
    assert split_majority_minority(dict(counts, a=4), 0.4) == (['b'],
                                                               ['a', 'c'])


@pytest.mark.parametrize('share', [0, -0.5, 1.01, 2, float('nan')])
def test_invalid_share_raises(share):
    with pytest.raises(ValueError, match='majority_share must be in'):
        split_majority_minority(DEMO_BOX_COUNTS, share)


def test_no_class_raises():
    with pytest.raises(ValueError, match='box_counts is empty'):
        split_majority_minority({})


# ---------------------------------------------------------------------------
# rfs_threshold_for
# ---------------------------------------------------------------------------
def test_rfs_threshold_is_the_smallest_majority_frequency():
    freq = dict(red_circle=0.5, green_square=0.3, blue_triangle=0.35,
                yellow_cross=0.2, magenta_ring=0.12, green_diamond=0.08,
                orange_circle=0.06, white_star=0.15)
    majority, _ = split_majority_minority(DEMO_BOX_COUNTS)
    assert rfs_threshold_for(freq, majority) == 0.12
    assert isinstance(rfs_threshold_for(dict(a=1), ['a']), float)


def test_rfs_threshold_errors():
    with pytest.raises(ValueError, match='no majority class'):
        rfs_threshold_for(dict(a=0.5), [])
    with pytest.raises(ValueError, match=r"majority classes \['b'\] have no "
                       'frequency'):
        rfs_threshold_for(dict(a=0.5), ['a', 'b'])


def test_rfs_repeats_exactly_the_classes_rarer_than_every_majority_class():
    rng = np.random.default_rng(0)
    repeated_seen = kept_minority_seen = 0
    for _ in range(300):
        n = int(rng.integers(1, 15))
        names = [f'class_{i}' for i in range(n)]
        boxes = {c: int(rng.integers(1, 1000)) for c in names}
        freq = {c: float(rng.uniform(1e-3, 1.0)) for c in names}
        share = float(rng.uniform(0.05, 1.0))
        majority, minority = split_majority_minority(boxes, share)
        assert sorted(majority + minority) == sorted(names)
        t = rfs_threshold_for(freq, majority)
        assert t == min(freq[c] for c in majority)
        for c in names:
            repeat = max(1.0, math.sqrt(t / freq[c]))
            rarer_than_all = all(freq[c] < freq[m] for m in majority)
            assert (repeat > 1) == rarer_than_all, (c, boxes, freq, share)
            if c in majority:
                assert repeat == 1
            repeated_seen += repeat > 1
            kept_minority_seen += c in minority and repeat == 1
    # both sides of the property were exercised
    assert repeated_seen > 100 and kept_minority_seen > 100


# ---------------------------------------------------------------------------
# scale_schedule
# ---------------------------------------------------------------------------
def _iter_values(s: ReferenceSchedule):
    return [getattr(s, f) for f in ITER_FIELDS] + list(s.lr_steps)


@pytest.mark.parametrize('ref', [COCO_LIKE, DEMO_SCHEDULE],
                         ids=['coco_like', 'demo'])
def test_same_images_and_batch_is_the_identity(ref):
    assert schedule_factor(ref, ref.images, ref.images_per_iter) == 1
    assert scale_schedule(ref, ref.images, ref.images_per_iter) == ref


def test_demo_reference_scaled_to_itself_is_unchanged():
    assert scale_schedule(DEMO_SCHEDULE, 1871, 4) == DEMO_SCHEDULE
    assert scale_schedule(DEMO_SCHEDULE, 1871, 4,
                          max_iters=1000) == DEMO_SCHEDULE
    assert DEMO_SCHEDULE.as_dict()['gbr_warmup_iters'] == 200


@pytest.mark.parametrize('ref', [COCO_LIKE, DEMO_SCHEDULE],
                         ids=['coco_like', 'demo'])
def test_doubling_the_images_doubles_every_iteration_setting(ref):
    scaled = scale_schedule(ref, 2 * ref.images, ref.images_per_iter)
    assert schedule_factor(ref, 2 * ref.images, ref.images_per_iter) == 2
    assert scaled.images == 2 * ref.images
    assert scaled.images_per_iter == ref.images_per_iter
    assert _iter_values(scaled) == [2 * v for v in _iter_values(ref)]


@pytest.mark.parametrize('ref', [COCO_LIKE, DEMO_SCHEDULE],
                         ids=['coco_like', 'demo'])
def test_doubling_images_per_iter_halves_every_iteration_setting(ref):
    scaled = scale_schedule(ref, ref.images, 2 * ref.images_per_iter)
    assert schedule_factor(ref, ref.images, 2 * ref.images_per_iter) == 0.5
    assert scaled.images_per_iter == 2 * ref.images_per_iter
    assert _iter_values(scaled) == [v // 2 for v in _iter_values(ref)]
    assert all(v % 2 == 0 for v in _iter_values(ref))  # exact halves


def test_images_and_batch_scale_together():
    # 4x the images on 8x the batch: half the iterations
    scaled = scale_schedule(COCO_LIKE, 400000, 320)
    assert scaled.max_iters == 90000
    assert scaled.gbr_warmup_iters == 4000
    assert scaled.lr_steps == (60000, 80000, 90000)


def test_max_iters_override_keeps_the_fractions():
    scaled = scale_schedule(COCO_LIKE, 5000, 8, max_iters=18000)
    assert scaled.images == 5000 and scaled.images_per_iter == 8
    assert _iter_values(scaled) == [v // 10 for v in _iter_values(COCO_LIKE)]

    for length in (1000, 777, 50):
        scaled = scale_schedule(COCO_LIKE, 5000, 8, max_iters=length)
        assert scaled.max_iters == length
        for f in ITER_FIELDS[1:]:
            ref_frac = getattr(COCO_LIKE, f) / COCO_LIKE.max_iters
            got = getattr(scaled, f)
            # the fraction, to the nearest iteration (at least 1)
            assert abs(got - max(1.0, ref_frac * length)) <= 0.5, f


def test_intervals_are_capped_at_the_length():
    ref = ReferenceSchedule(images=1000, images_per_iter=4, max_iters=1000,
                            val_interval=5000, checkpoint_interval=10**6,
                            gbr_warmup_iters=2000, crs_interval=1000,
                            lr_warmup_iters=1500)
    for scaled in (scale_schedule(ref, 1000, 4, max_iters=10),
                   scale_schedule(ref, 10, 4)):
        assert scaled.max_iters == 10
        assert scaled.val_interval == 10
        assert scaled.checkpoint_interval == 10
        assert scaled.gbr_warmup_iters == 10
        assert scaled.crs_interval == 10
        assert scaled.lr_warmup_iters == 2  # at most a fifth of the run


def test_lr_warmup_keeps_its_iterations_up_to_a_fifth_of_the_run():
    for images, expected_len, expected_warmup in ((50000, 90000, 500),
                                                  (200000, 360000, 500),
                                                  (2000, 3600, 500),
                                                  (1000, 1800, 360)):
        scaled = scale_schedule(COCO_LIKE, images, 40)
        assert scaled.max_iters == expected_len
        assert scaled.lr_warmup_iters == expected_warmup
    assert scale_schedule(COCO_LIKE, 10, 40,
                          max_iters=5).lr_warmup_iters == 1


def test_small_settings_stay_at_least_1_and_zero_stays_zero():
    scaled = scale_schedule(COCO_LIKE, 10, 40)  # 18 iterations
    assert scaled.max_iters == 18
    assert scaled.lr_warmup_iters == 4  # a fifth of 18, not 500
    assert scaled.crs_interval == 1
    supervised = ReferenceSchedule(images=100, images_per_iter=2,
                                   max_iters=1000, val_interval=100,
                                   checkpoint_interval=100)
    scaled = scale_schedule(supervised, 50, 2)
    assert (scaled.gbr_warmup_iters, scaled.ssod_warmup_iters,
            scaled.crs_interval, scaled.lr_warmup_iters) == (0, 0, 0, 0)
    assert scaled.lr_steps == ()
    # the length is at least 1 too
    assert scale_schedule(supervised, 1, 100).max_iters == 1


def test_lr_steps_at_or_after_the_end_stay_after_the_end():
    ref = ReferenceSchedule(images=1000, images_per_iter=4, max_iters=1000,
                            val_interval=100, checkpoint_interval=100,
                            lr_steps=(800, 1000, 1500))
    scaled = scale_schedule(ref, 1000, 4, max_iters=10)
    assert scaled.lr_steps == (8, 10, 15)  # not capped like the intervals
    rng = np.random.default_rng(1)
    for length in rng.integers(1, 5000, size=50):
        length = int(length)
        for r in (ref, COCO_LIKE):
            scaled = scale_schedule(r, 5000, 8, max_iters=length)
            assert len(scaled.lr_steps) == len(r.lr_steps)
            for step, new in zip(r.lr_steps, scaled.lr_steps):
                if step == r.max_iters:
                    assert new == length
                elif step > r.max_iters:
                    assert new >= length
                else:
                    assert new <= length


def test_schedule_errors():
    with pytest.raises(ValueError, match='must be positive'):
        schedule_factor(COCO_LIKE, 0, 8)
    with pytest.raises(ValueError, match='must be positive'):
        scale_schedule(COCO_LIKE, 1000, -1)
    with pytest.raises(ValueError, match='max_iters must be >= 1'):
        scale_schedule(COCO_LIKE, 1000, 8, max_iters=0)


def test_scaled_schedule_is_a_new_reference_schedule():
    scaled = scale_schedule(COCO_LIKE, 1000, 8)
    assert isinstance(scaled, ReferenceSchedule)
    assert COCO_LIKE.max_iters == 180000  # the reference is unchanged
    assert set(scaled.as_dict()) == {f.name for f in fields(scaled)}


# ---------------------------------------------------------------------------
# image_folder_to_coco
# ---------------------------------------------------------------------------
CATS = [dict(id=1, name='cat'), dict(id=5, name='dog', supercategory='x')]


def _png(path, size, fmt=None):
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.new('RGB', size, (10, 20, 30)).save(path, fmt)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / 'unlabeled'
    # os.walk yields root files before the sub folders: sorting must not
    _png(str(root / 'b.png'), (40, 30))
    _png(str(root / 'a' / 'c.jpg'), (20, 10))
    _png(str(root / 'sub' / 'deep' / 'd.bmp'), (16, 12))
    (root / 'notes.txt').write_text('not an image')
    (root / 'sub' / 'readme.md').write_text('# nor this')
    return str(root)


def test_image_folder_to_coco(folder):
    coco = image_folder_to_coco(folder, CATS)
    assert coco['images'] == [
        dict(id=1, file_name='a/c.jpg', width=20, height=10),
        dict(id=2, file_name='b.png', width=40, height=30),
        dict(id=3, file_name='sub/deep/d.bmp', width=16, height=12),
    ]
    assert coco['annotations'] == []
    assert coco['categories'] == CATS
    assert coco['categories'][1] is not CATS[1]  # a copy
    coco['categories'][0]['name'] = 'changed'
    assert CATS[0]['name'] == 'cat'


def test_image_folder_first_id_and_checks(folder, tmp_path):
    coco = image_folder_to_coco(folder, CATS, first_id=101)
    assert [img['id'] for img in coco['images']] == [101, 102, 103]
    path = str(tmp_path / 'unlabeled.json')
    with open(path, 'w') as f:
        json.dump(coco, f)
    summary = check_image_files(check_coco_file(path, folder, 'unlabeled'))
    assert summary.modes == {'RGB': 3}
    assert summary.box_counts == dict(cat=0, dog=0)


def test_empty_image_folder_raises(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(DataCheckError) as err:
        image_folder_to_coco(str(empty), CATS)
    assert f'unlabeled image folder {empty} holds no image (.jpg' in \
        str(err.value)
    # files that are not images do not count
    (empty / 'sub').mkdir()
    (empty / 'sub' / 'list.txt').write_text('a.png\n')
    with pytest.raises(DataCheckError, match='holds no image'):
        image_folder_to_coco(str(empty), CATS)


def test_missing_image_folder_raises(tmp_path):
    missing = str(tmp_path / 'nope')
    with pytest.raises(DataCheckError) as err:
        image_folder_to_coco(missing, CATS)
    assert f'unlabeled image folder {missing} does not exist; pass a folder ' \
           'of images or an image-only COCO file' in str(err.value)


def test_non_image_file_with_an_image_extension_raises(folder):
    bad = osp.join(folder, 'sub', 'broken.jpg')
    with open(bad, 'wb') as f:
        f.write(b'\x00\x01 definitely not a JPEG' * 4)
    with pytest.raises(DataCheckError) as err:
        image_folder_to_coco(folder, CATS)
    msg = str(err.value)
    assert f'unlabeled image {bad} cannot be read as an image' in msg
    assert 'replace or remove it' in msg
