"""``cissod_core.evaluation``: summaries of precision / recall arrays, the
summarize rules, LVIS' per-image limit and the synthetic data."""
import numpy as np
import pytest

from cissod_core.evaluation import (
    limit_dets_per_image,
    make_detection_set,
    mean_valid,
    summarize_precision,
    summarize_recall,
    summary_items,
)

THRS = np.linspace(.5, .95, 10)
AREAS = ['all', 'small', 'medium', 'large']


def test_summaries_slice_and_skip_missing():
    rng = np.random.RandomState(0)
    prec = rng.rand(10, 101, 5, 4, 3)
    prec[:, :, 2] = -1  # category without ground truth
    rec = rng.rand(10, 5, 4, 3)
    rec[:, 2] = -1
    dets = [100, 300, 1000]
    assert summarize_precision(prec, THRS, AREAS, dets) == pytest.approx(
        prec[:, :, [0, 1, 3, 4], 0, 0].mean())
    assert summarize_precision(prec, THRS, AREAS, dets, [4, 1], .75,
                               'large', 1000) == pytest.approx(
                                   prec[5, :, [1, 4], 3, 2].mean())
    assert summarize_precision(prec, THRS, AREAS, dets, [2]) == -1.0
    assert summarize_recall(rec, THRS, AREAS, dets, [0, 2], None, 'small',
                            300) == pytest.approx(rec[:, 0, 1, 1].mean())
    assert mean_valid(np.full(3, -1.0)) == -1.0
    with pytest.raises(KeyError, match='0.62'):
        summarize_precision(prec, THRS, AREAS, dets, iou_thr=.62)
    with pytest.raises(KeyError, match='maxDets'):
        summarize_precision(prec, THRS, AREAS, dets, max_det=10)


def test_summary_items_rules():
    coco = summary_items(['mAP', 'mAP_50', 'mAP_l', 'AR@300', 'AR_s@1000'],
                         [1000, 100, 300])
    assert coco['mAP'].max_dets == 100
    assert coco['mAP_50'] == (True, .5, 'all', 1000)
    assert coco['mAP_l'] == (True, None, 'large', 1000)
    assert coco['AR@300'] == (False, None, 'all', 300)
    assert coco['AR_s@1000'].area == 'small'
    last = summary_items(['mAP', 'mAP_75', 'AR@300'], [300], 'last')
    assert {s.max_dets for s in last.values()} == {300}
    with pytest.raises(KeyError, match='mAP_xl'):
        summary_items(['mAP_xl'], [100])
    with pytest.raises(KeyError, match='AR@100'):
        summary_items(['AR@100'], [300], 'last')
    with pytest.raises(ValueError, match='rule'):
        summary_items(['mAP'], [100], 'lvis')


def test_limit_dets_per_image():
    dets = [dict(image_id=i % 2, score=s)
            for i, s in enumerate([.1, .9, .5, .7, .3, .2])]
    kept = limit_dets_per_image(dets, 2)
    assert sorted((d['image_id'], d['score']) for d in kept) == [
        (0, .3), (0, .5), (1, .7), (1, .9)]
    assert len(limit_dets_per_image(dets, -1)) == 6
    assert len(limit_dets_per_image(dets, 10)) == 6


def test_synthetic_set_shapes():
    gt, dets = make_detection_set(20, 9, lvis=True, seed=2,
                                  crowded_images=(3, ), crowded_dets=320)
    assert len(gt['images']) == 20 and len(gt['categories']) == 9
    assert all('neg_category_ids' in im and 'not_exhaustive_category_ids'
               in im for im in gt['images'])
    assert all('iscrowd' not in a for a in gt['annotations'])
    counts = np.bincount([d['image_id'] for d in dets])
    assert counts.argmax() == gt['images'][3]['id'] and counts.max() > 300
    # exact in float32 (the mmdet round trip)
    boxes = np.asarray([d['bbox'] for d in dets])
    assert np.array_equal(boxes.astype(np.float32).astype(float), boxes)
    coco, _ = make_detection_set(5, 4, seed=2)
    assert all(a['iscrowd'] == 0 for a in coco['annotations'])
    assert 'frequency' not in coco['categories'][0]
