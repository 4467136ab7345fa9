"""``cissod_core.crs.ClassRebalancer``: the CrS state the hook schedules."""
import pytest
import torch

from cissod_core.crs import ClassRebalancer, PseudoLabelBatch


def _batch(img_ids, box_image, labels, margins, n=4):
    return PseudoLabelBatch(
        img_ids=list(img_ids), box_image=torch.tensor(box_image),
        labels=torch.tensor(labels), margins=torch.tensor(margins),
        thresholds=torch.full((n, ), 0.5),
        num_candidates=torch.zeros(n, dtype=torch.long))


def _rows(pool):
    """Per pool row: {class: margin} of its filled slots."""
    return [{int(c): float(m) for c, m in zip(cs, ms) if c >= 0}
            for cs, ms in zip(pool.classes.tolist(), pool.margins.tolist())]


def test_record_and_update_equal_the_terms_computed_by_hand():
    """Numbers worked out on paper (no function of the module under test):
    labeled images [0], [0, 0, 1], [], [0, 2]; pseudo labels: image 103
    classes 3 (margins 0.1, 0.45) and 2 (0.05), image 101 class 1 (0.2),
    image 105 class 3 (0.4)."""
    img_ids = [101, 102, 103, 104, 105]
    labeled = [[0], [0, 0, 1], [], [0, 2]]
    rb = ClassRebalancer(img_ids, labeled, num_classes=4, gamma=2.0,
                         max_classes_per_image=2)
    assert rb.labeled_class_images.tolist() == [3, 1, 1, 0]
    assert rb.num_labeled_images == 4
    b1 = _batch([103, 101], [0, 0, 1, 0], [3, 3, 1, 2],
                [0.1, 0.45, 0.2, 0.05])
    b2 = _batch([105], [0], [3], [0.4])
    rb.record([b1, b2], rows_per_batch=2)
    # one row per image: its classes with their largest margin
    rows = _rows(rb.pool)
    expected_rows = [{1: 0.2}, {}, {3: 0.45, 2: 0.05}, {}, {3: 0.4}]
    for row, want in zip(rows, expected_rows):
        assert row.keys() == want.keys()
        for c in want:
            assert row[c] == pytest.approx(want[c], abs=1e-7)
    image_factors = rb.update(iteration=100, max_iters=100)
    # lam = min(gamma * 100 / 100, gamma) = 2; f_c over the 4 labeled + 3
    # pseudo-labeled images: class 0: 3 / 7, classes 1-3: 2 / 7;
    # r_c = max(1, sqrt(lam / f_c)) = sqrt(14 / 3), sqrt(7), sqrt(7), sqrt(7)
    assert rb.lam == 2.0
    assert rb.class_factors.tolist() == pytest.approx(
        [(14 / 3)**0.5, 7**0.5, 7**0.5, 7**0.5])
    # r(I) = max(1, max_k r_c * margin): image 101: sqrt(7) 0.2 < 1;
    # 103: sqrt(7) 0.45; 105: sqrt(7) 0.4; images without labels: 1
    assert image_factors.tolist() == pytest.approx(
        [1.0, 1.0, 7**0.5 * 0.45, 1.0, 7**0.5 * 0.4], abs=1e-6)


def test_record_without_batches_and_unknown_images():
    rb = ClassRebalancer([1, 2], [[0]], num_classes=2)
    rb.record([], rows_per_batch=4)  # an iteration without unlabeled data
    assert rb.pool.num_images_with_labels() == 0
    with pytest.raises(KeyError, match=r'\[7\]'):
        rb.record([_batch([7], [0], [1], [0.2], n=2)], rows_per_batch=1)


def test_non_finite_margins_are_left_out_and_counted():
    rb = ClassRebalancer([1, 2, 3], [[0], [1]], num_classes=3)
    rb.record([_batch([1, 2], [0, 0, 1], [2, 1, 2],
                      [float('nan'), 0.2, float('inf')], n=3)],
              rows_per_batch=2)
    clean = ClassRebalancer([1, 2, 3], [[0], [1]], num_classes=3)
    clean.record([_batch([1, 2], [0], [1], [0.2], n=3)], rows_per_batch=2)
    assert rb.num_skipped_boxes == 2
    assert torch.equal(rb.pool.classes, clean.pool.classes)
    assert torch.equal(rb.pool.margins, clean.pool.margins)
    assert rb.state_dict()['num_skipped_boxes'] == 2
    old = {k: v for k, v in rb.state_dict().items()
           if k != 'num_skipped_boxes'}  # a checkpoint from before
    clean.load_state_dict(old)
    assert clean.num_skipped_boxes == 0


def test_state_dict_round_trip_and_mismatch():
    rb = ClassRebalancer([1, 2, 3], [[0], [1]], num_classes=2)
    rb.record([_batch([2], [0], [1], [0.2], n=2)], rows_per_batch=1)
    rb.update(5, 10)
    state = rb.state_dict()
    other = ClassRebalancer([1, 2, 3], [[0], [1]], num_classes=2)
    other.load_state_dict(state)
    assert torch.equal(other.pool.classes, rb.pool.classes)
    assert torch.equal(other.class_factors, rb.class_factors)
    assert other.lam == rb.lam
    with pytest.raises(ValueError, match='same unlabeled split'):
        ClassRebalancer([1, 2], [[0]], num_classes=2).load_state_dict(state)
