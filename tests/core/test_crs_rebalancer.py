"""``cissod_core.crs.ClassRebalancer``: the CrS state the hook schedules."""
import pytest
import torch

from cissod_core.crs import (
    ClassRebalancer,
    PseudoLabelBatch,
    PseudoLabelPool,
    boxes_to_rows,
    compute_crs_factors,
    crs_lambda,
)


def _batch(img_ids, box_image, labels, margins, n=4):
    return PseudoLabelBatch(
        img_ids=list(img_ids), box_image=torch.tensor(box_image),
        labels=torch.tensor(labels), margins=torch.tensor(margins),
        thresholds=torch.full((n, ), 0.5),
        num_candidates=torch.zeros(n, dtype=torch.long))


def test_record_and_update_equal_the_terms_computed_by_hand():
    img_ids = [101, 102, 103, 104, 105]
    labeled = [[0], [0, 0, 1], [], [0, 2]]
    rb = ClassRebalancer(img_ids, labeled, num_classes=4, gamma=0.5,
                         max_classes_per_image=2)
    assert rb.labeled_class_images.tolist() == [3, 1, 1, 0]
    assert rb.num_labeled_images == 4
    b1 = _batch([103, 101], [0, 0, 1, 0], [3, 3, 1, 2],
                [0.1, 0.3, 0.2, 0.05])
    b2 = _batch([105], [0], [3], [0.4])
    rb.record([b1, b2], rows_per_batch=2)
    # by hand: the same rows into a fresh pool
    pool = PseudoLabelPool(5, 4, 2)
    for b in (b1, b2):
        index = torch.tensor([img_ids.index(i) for i in b.img_ids])
        classes, margins = boxes_to_rows(index, b.box_image, b.labels,
                                         b.margins, 2)
        pool.update(index, classes, margins)
    assert torch.equal(rb.pool.classes, pool.classes)
    assert torch.equal(rb.pool.margins, pool.margins)
    image_factors = rb.update(iteration=30, max_iters=100)
    lam = crs_lambda(30, 100, 0.5)
    class_factors, expected = compute_crs_factors(
        pool, torch.tensor([3, 1, 1, 0]), 4, lam)
    assert rb.lam == lam
    assert torch.equal(rb.class_factors, class_factors)
    assert torch.equal(image_factors, expected)


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
