"""Tests of ``GroupCocoMetric``: group AP == pycocotools' AP of a COCOeval
restricted to the group's categories, LVIS r/c/f, errors and edge cases."""
import contextlib
import copy
import io
import json
import logging
import uuid
from typing import List, Optional, Sequence

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from pycocotools import mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from cissod.evaluation.metrics.group_coco_metric import (
    GroupCocoMetric,
    summarize_ap,
)

CLASSES = ('red_circle', 'blue_square', 'green_triangle', 'yellow_star',
           'purple_hexagon', 'orange_diamond')
# unsorted and non-contiguous: the K axis of COCOeval (sorted ids) differs
# from the label order (file order)
CAT_IDS = (7, 2, 11, 3, 5, 9)
MAJORITY = list(CLASSES[:3])
MINORITY = list(CLASSES[3:])
GROUPS = dict(majority=MAJORITY, minority=MINORITY)
W, H = 320, 240
OVERALL_ITEMS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')


# ----------------------------------------------------------------- fixtures
def make_gt(num_images: int = 10,
            seed: int = 0,
            frequencies: Optional[Sequence[str]] = None) -> dict:
    """COCO json: majority classes 1-3 boxes per image, minority 0-1, boxes
    from 12 to 156 px (small, medium and large), one crowd box."""
    rng = np.random.RandomState(seed)
    categories = []
    for i, (cat_id, name) in enumerate(zip(CAT_IDS, CLASSES)):
        cat = dict(id=cat_id, name=name, supercategory='shape')
        if frequencies is not None:
            cat['frequency'] = frequencies[i]
        categories.append(cat)
    images, anns = [], []
    for i in range(num_images):
        img_id = 100 + 3 * i
        images.append(
            dict(id=img_id, width=W, height=H, file_name=f'{img_id}.jpg'))
        for c, cat_id in enumerate(CAT_IDS):
            n = rng.randint(1, 4) if c < 3 else rng.randint(0, 2)
            for _ in range(n):
                w, h = (rng.randint(3, 40, size=2) * 4).tolist()
                x, y = rng.randint(0, W - w), rng.randint(0, H - h)
                anns.append(
                    dict(
                        id=len(anns) + 1,
                        image_id=img_id,
                        category_id=cat_id,
                        bbox=[float(x), float(y),
                              float(w), float(h)],
                        area=float(w * h),
                        iscrowd=0))
    anns.append(
        dict(
            id=len(anns) + 1,
            image_id=images[0]['id'],
            category_id=CAT_IDS[0],
            bbox=[10.0, 10.0, 200.0, 150.0],
            area=30000.0,
            iscrowd=1))
    return dict(images=images, annotations=anns, categories=categories)


def make_preds(gt: dict, seed: int = 1) -> List[dict]:
    """Per image: jittered true positives (majority: 85 % found, tight;
    minority: 50 % found, loose, low scores), duplicates, wrong labels and
    random false positives. Boxes are float32 x1y1x2y2, labels index
    ``CLASSES`` (= file order of the categories)."""
    rng = np.random.RandomState(seed)
    preds = []
    for img in gt['images']:
        boxes, scores, labels = [], [], []
        for ann in gt['annotations']:
            if ann['image_id'] != img['id'] or ann['iscrowd']:
                continue
            label = CAT_IDS.index(ann['category_id'])
            minority = label >= 3
            if rng.rand() < (0.5 if minority else 0.15):
                continue
            x, y, w, h = ann['bbox']
            j = 8 if minority else 3
            d = rng.randint(-j, j + 1, size=4)
            box = [x + d[0], y + d[1], max(x + w + d[2], x + d[0] + 2),
                   max(y + h + d[3], y + d[1] + 2)]
            score = rng.uniform(.05, .7) if minority else rng.uniform(.3, 1)
            boxes.append(box)
            scores.append(score)
            labels.append(label)
            if rng.rand() < 0.2:  # duplicate -> false positive
                boxes.append(box)
                scores.append(score * 0.5)
                labels.append(label)
            if rng.rand() < 0.1:  # wrong class
                boxes.append(box)
                scores.append(score * 0.8)
                labels.append((label + 1) % len(CLASSES))
        for _ in range(3):  # background false positives
            w, h = rng.randint(8, 120, size=2)
            x, y = rng.randint(0, W - w), rng.randint(0, H - h)
            boxes.append([x, y, x + w, y + h])
            scores.append(rng.uniform(0, .8))
            labels.append(rng.randint(len(CLASSES)))
        preds.append(
            dict(
                img_id=img['id'],
                bboxes=np.asarray(boxes, np.float32).reshape(-1, 4),
                scores=np.asarray(scores, np.float32),
                labels=np.asarray(labels, np.int64)))
    return preds


def to_data_samples(preds: List[dict], gt: Optional[dict] = None,
                    masks: Optional[List[np.ndarray]] = None) -> List[dict]:
    """mmdet-shaped data samples; with ``gt``, also ``instances`` (for
    evaluation without ``ann_file``)."""
    samples = []
    for i, p in enumerate(preds):
        pred_instances = dict(
            bboxes=torch.from_numpy(p['bboxes']),
            scores=torch.from_numpy(p['scores']),
            labels=torch.from_numpy(p['labels']))
        if masks is not None:
            pred_instances['masks'] = torch.from_numpy(masks[i])
        sample = dict(
            img_id=p['img_id'],
            ori_shape=(H, W),
            pred_instances=pred_instances)
        if gt is not None:
            sample['instances'] = [
                dict(
                    bbox=[a['bbox'][0], a['bbox'][1],
                          a['bbox'][0] + a['bbox'][2],
                          a['bbox'][1] + a['bbox'][3]],
                    bbox_label=CAT_IDS.index(a['category_id']),
                    ignore_flag=a['iscrowd']) for a in gt['annotations']
                if a['image_id'] == p['img_id']
            ]
        samples.append(sample)
    return samples


def to_coco_dets(preds: List[dict]) -> List[dict]:
    """The detections in COCO result format, converted as CocoMetric does."""
    dets = []
    for p in preds:
        for box, score, label in zip(p['bboxes'], p['scores'], p['labels']):
            x1, y1, x2, y2 = box.tolist()
            dets.append(
                dict(
                    image_id=p['img_id'],
                    bbox=[x1, y1, x2 - x1, y2 - y1],
                    score=float(score),
                    category_id=CAT_IDS[label]))
    return dets


def write_json(tmp_path, obj: dict, name: str = 'gt.json') -> str:
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return str(path)


def reference_eval(gt_file: str,
                   dets: List[dict],
                   cat_ids: Sequence[int],
                   iou_type: str = 'bbox') -> COCOeval:
    """pycocotools' COCOeval restricted to ``cat_ids``, with CocoMetric's
    maxDets, evaluated, accumulated and summarized."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(gt_file)
        coco_dt = coco_gt.loadRes(copy.deepcopy(dets))
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.params.catIds = list(cat_ids)
        ev.params.imgIds = coco_gt.getImgIds()
        ev.params.maxDets = [100, 300, 1000]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def reference_stats(gt_file: str,
                    dets: List[dict],
                    cat_ids: Sequence[int],
                    iou_type: str = 'bbox') -> np.ndarray:
    """``COCOeval.stats`` of :func:`reference_eval`."""
    return reference_eval(gt_file, dets, cat_ids, iou_type).stats


def ids_of(names: Sequence[str]) -> List[int]:
    return [CAT_IDS[CLASSES.index(n)] for n in names]


def run_metric(gt_file: Optional[str], samples: List[dict],
               **kwargs) -> tuple:
    metric = GroupCocoMetric(ann_file=gt_file, **kwargs)
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process(data_batch={}, data_samples=samples)
    res = metric.evaluate(size=len(samples))
    assert all(key.startswith('coco/') for key in res)
    return metric, {key[len('coco/'):]: value for key, value in res.items()}


@pytest.fixture
def log_stream():
    """A fresh current MMLogger whose INFO output is captured."""
    logger = MMLogger.get_instance(
        f'test_gcm_{uuid.uuid4().hex}', log_level='INFO')
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


@pytest.fixture
def demo(tmp_path):
    gt = make_gt()
    preds = make_preds(gt)
    return gt, write_json(tmp_path, gt), preds


# -------------------------------------------------------------------- tests
def test_summarize_ap_reproduces_cocoeval_stats(demo):
    gt, gt_file, preds = demo
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(gt_file)
        ev = COCOeval(coco_gt, coco_gt.loadRes(to_coco_dets(preds)), 'bbox')
        ev.params.maxDets = [100, 300, 1000]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert summarize_ap(ev) == ev.stats[0]
    assert summarize_ap(ev, CAT_IDS) == ev.stats[0]
    assert summarize_ap(ev, iou_thr=.5, max_dets=1000) == ev.stats[1]
    assert summarize_ap(ev, iou_thr=.75, max_dets=1000) == ev.stats[2]
    for i, area in enumerate(('small', 'medium', 'large')):
        assert summarize_ap(ev, area_rng=area, max_dets=1000) == \
            ev.stats[3 + i]
    with pytest.raises(KeyError, match='42'):
        summarize_ap(ev, [42])


def test_group_ap_equals_restricted_cocoeval(demo):
    gt, gt_file, preds = demo
    metric, res = run_metric(
        gt_file,
        to_data_samples(preds),
        metric='bbox',
        class_groups=GROUPS)
    dets = to_coco_dets(preds)

    ref_all = reference_stats(gt_file, dets, CAT_IDS)
    for i, item in enumerate(OVERALL_ITEMS):
        assert metric.raw_results[f'bbox_{item}'] == pytest.approx(
            ref_all[i], abs=1e-9)
        assert res[f'bbox_{item}'] == round(ref_all[i], 3)

    group_aps = {}
    for group, names in GROUPS.items():
        ref = reference_stats(gt_file, dets, ids_of(names))
        for suffix, i in (('mAP', 0), ('mAP_50', 1), ('mAP_75', 2)):
            key = f'bbox_{group}_{suffix}'
            assert metric.raw_results[key] == pytest.approx(ref[i], abs=1e-9)
            assert res[key] == round(ref[i], 3)
        group_aps[group] = ref[0]

    # the fixture discriminates: groups differ from each other and from all
    assert 0 < group_aps['minority'] < ref_all[0] < group_aps['majority'] < 1
    assert abs(group_aps['majority'] - group_aps['minority']) > 0.1
    expected = {f'bbox_{item}' for item in OVERALL_ITEMS} | {
        f'bbox_{g}_{s}'
        for g in GROUPS for s in ('mAP', 'mAP_50', 'mAP_75')
    }
    assert set(res) == expected  # no r/c/f without frequency fields


def test_classwise_table_and_summary_line(demo, log_stream):
    gt, gt_file, preds = demo
    metric, res = run_metric(
        gt_file, to_data_samples(preds), class_groups=GROUPS, classwise=True)
    dets = to_coco_dets(preds)
    for name in CLASSES:
        ref = reference_stats(gt_file, dets, ids_of([name]))
        assert metric.raw_results[f'bbox_AP_{name}'] == pytest.approx(
            ref[0], abs=1e-9)
        assert res[f'bbox_AP_{name}'] == round(ref[0], 3)

    log = log_stream.getvalue()
    assert 'Average Precision' in log  # summarize() goes to the log
    table = log[log.index('per-class AP'):]
    for name in CLASSES:
        group = 'majority' if name in MAJORITY else 'minority'
        row = next(line for line in table.splitlines() if f' {name} ' in line)
        assert group in row
        assert f"{res[f'bbox_AP_{name}']:.3f}" in row
    summary = next(line for line in log.splitlines()
                   if 'bbox AP (x100) all / majority / minority:' in line)
    values = [float(v) for v in summary.split(':')[-1].split('/')]
    assert values == pytest.approx([
        100 * metric.raw_results['bbox_mAP'],
        100 * metric.raw_results['bbox_majority_mAP'],
        100 * metric.raw_results['bbox_minority_mAP']
    ], abs=0.051)


def test_cocoeval_runs_once(demo, monkeypatch):
    gt, gt_file, preds = demo
    calls = {'evaluate': 0, 'accumulate': 0}
    for name in calls:
        original = getattr(COCOeval, name)

        def counted(self, *args, _name=name, _orig=original, **kwargs):
            calls[_name] += 1
            return _orig(self, *args, **kwargs)

        monkeypatch.setattr(COCOeval, name, counted)
    run_metric(
        gt_file,
        to_data_samples(preds),
        class_groups=dict(GROUPS, solo=[CLASSES[0]]),
        classwise=True)
    assert calls == {'evaluate': 1, 'accumulate': 1}


def test_hand_computable_groups(tmp_path):
    """good: exact boxes -> 1.0; bad: boxes far from any GT -> 0.0;
    ghost: no GT at all -> -1 (pycocotools' convention); overall: 0.5."""
    gt = make_gt(num_images=4, seed=3)
    # only the first four classes keep their GT; the last two have none
    gt['annotations'] = [
        a for a in gt['annotations']
        if a['category_id'] in CAT_IDS[:4] and not a['iscrowd']
    ]
    preds = []
    for img in gt['images']:
        boxes, labels = [], []
        for a in gt['annotations']:
            if a['image_id'] != img['id']:
                continue
            label = CAT_IDS.index(a['category_id'])
            x, y, w, h = a['bbox']
            if label < 2:  # exact box
                boxes.append([x, y, x + w, y + h])
            else:  # outside the image: IoU 0 with every GT
                boxes.append([W + 50, H + 50, W + 60, H + 60])
            labels.append(label)
        preds.append(
            dict(
                img_id=img['id'],
                bboxes=np.asarray(boxes, np.float32).reshape(-1, 4),
                scores=np.full(len(boxes), 0.9, np.float32),
                labels=np.asarray(labels, np.int64)))
    gt_file = write_json(tmp_path, gt)
    _, res = run_metric(
        gt_file,
        to_data_samples(preds),
        class_groups=dict(
            good=list(CLASSES[:2]),
            bad=list(CLASSES[2:4]),
            ghost=list(CLASSES[4:])))
    for suffix in ('mAP', 'mAP_50', 'mAP_75'):
        assert res[f'bbox_good_{suffix}'] == 1.0
        assert res[f'bbox_bad_{suffix}'] == 0.0
        assert res[f'bbox_ghost_{suffix}'] == -1.0
    assert res['bbox_mAP'] == 0.5
    assert res['bbox_mAP_50'] == 0.5


def test_unknown_class_name_with_ann_file(demo):
    _, gt_file, _ = demo
    with pytest.raises(ValueError) as err:
        GroupCocoMetric(
            ann_file=gt_file,
            class_groups=dict(majority=MAJORITY, minority=['purple_hexagn']))
    msg = str(err.value)
    assert "'purple_hexagn'" in msg and "'minority'" in msg
    assert "did you mean 'purple_hexagon'" in msg
    for name in CLASSES:  # lists the available classes
        assert name in msg


@pytest.mark.parametrize('with_ann_file', [False, True])
def test_unknown_class_name_in_dataset_meta(demo, with_ann_file):
    """Names outside ``dataset_meta['classes']`` fail when it is set (with
    an ann_file the class exists there but is not evaluated)."""
    _, gt_file, _ = demo
    metric = GroupCocoMetric(
        ann_file=gt_file if with_ann_file else None,
        class_groups=dict(minority=['orange_diamond', 'yellow_star']))
    with pytest.raises(ValueError, match='orange_diamond'):
        metric.dataset_meta = dict(classes=CLASSES[:5])
    metric.dataset_meta = dict(classes=CLASSES)  # fine


def test_bad_arguments(demo):
    _, gt_file, _ = demo
    with pytest.raises(ValueError, match='proposal'):
        GroupCocoMetric(ann_file=gt_file, metric=['bbox', 'proposal'])
    with pytest.raises(TypeError):
        GroupCocoMetric(ann_file=gt_file, class_groups=dict(a='red_circle'))
    with pytest.raises(ValueError, match='empty'):
        GroupCocoMetric(ann_file=gt_file, class_groups=dict(a=[]))
    with pytest.raises(KeyError):
        GroupCocoMetric(ann_file=gt_file, metric_items=['mAP_xl'])


def test_registry_build_and_metric_list(demo):
    from mmdet.registry import METRICS
    gt, gt_file, preds = demo
    metric = METRICS.build(
        dict(
            type='GroupCocoMetric',
            ann_file=gt_file,
            metric=['bbox'],
            class_groups=GROUPS,
            metric_items=['mAP', 'mAP_50', 'AR@100']))
    assert isinstance(metric, GroupCocoMetric)
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, to_data_samples(preds))
    res = metric.evaluate(size=len(preds))
    ref = reference_stats(gt_file, to_coco_dets(preds), CAT_IDS)
    assert res['coco/bbox_mAP'] == round(ref[0], 3)
    assert res['coco/bbox_AR@100'] == round(ref[6], 3)
    assert 'coco/bbox_mAP_s' not in res
    assert 'coco/bbox_minority_mAP' in res


def test_lvis_frequency_groups(tmp_path):
    freqs = ('f', 'f', 'c', 'c', 'r', 'r')
    gt = make_gt(frequencies=freqs)
    preds = make_preds(gt)
    gt_file = write_json(tmp_path, gt)
    metric, res = run_metric(
        gt_file, to_data_samples(preds), class_groups=GROUPS)
    dets = to_coco_dets(preds)
    for code in 'rcf':
        names = [n for n, f in zip(CLASSES, freqs) if f == code]
        ref = reference_stats(gt_file, dets, ids_of(names))
        key = f'bbox_AP{code}'
        assert metric.raw_results[key] == pytest.approx(ref[0], abs=1e-9)
        assert res[key] == round(ref[0], 3)
    assert res['bbox_APr'] != res['bbox_APf']
    assert 'bbox_majority_mAP' in res

    metric, res = run_metric(
        gt_file, to_data_samples(preds), frequency_groups=False)
    assert 'bbox_APr' not in res


def test_without_ann_file_matches_ann_file(demo):
    gt, gt_file, preds = demo
    with_file, res = run_metric(
        gt_file, to_data_samples(preds), class_groups=GROUPS)
    without_file, res2 = run_metric(
        None, to_data_samples(preds, gt=gt), class_groups=GROUPS)
    assert set(res2) == set(res)
    # the K axis is ordered differently (ids 0..5 here): compare unrounded
    for key, value in with_file.raw_results.items():
        assert without_file.raw_results[key] == pytest.approx(
            value, abs=1e-9), key


def test_no_predictions_gives_zero(demo):
    gt, gt_file, preds = demo
    empty = [
        dict(
            img_id=p['img_id'],
            bboxes=np.zeros((0, 4), np.float32),
            scores=np.zeros(0, np.float32),
            labels=np.zeros(0, np.int64)) for p in preds
    ]
    _, res = run_metric(gt_file, to_data_samples(empty), class_groups=GROUPS)
    assert res['bbox_mAP'] == 0.0
    assert res['bbox_majority_mAP'] == 0.0
    assert res['bbox_minority_mAP_50'] == 0.0


def test_segm_group_ap_equals_restricted_cocoeval(tmp_path):
    gt = make_gt(num_images=4, seed=5)
    gt['annotations'] = [a for a in gt['annotations'] if not a['iscrowd']]
    for a in gt['annotations']:  # rectangle polygons
        x, y, w, h = a['bbox']
        a['segmentation'] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
    preds = make_preds(gt, seed=6)
    masks = []
    for p in preds:
        m = np.zeros((len(p['bboxes']), H, W), bool)
        for i, (x1, y1, x2, y2) in enumerate(p['bboxes'].astype(int)):
            m[i, max(y1, 0):y2, max(x1, 0):x2] = True
        masks.append(m)
    gt_file = write_json(tmp_path, gt)
    metric, res = run_metric(
        gt_file,
        to_data_samples(preds, masks=masks),
        metric=['bbox', 'segm'],
        class_groups=GROUPS)

    dets = []
    for p, m in zip(preds, masks):
        for i, (score, label) in enumerate(zip(p['scores'], p['labels'])):
            rle = mask_util.encode(
                np.asfortranarray(m[i][:, :, None].astype(np.uint8)))[0]
            rle['counts'] = rle['counts'].decode()
            dets.append(
                dict(
                    image_id=p['img_id'],
                    segmentation=rle,
                    score=float(score),
                    category_id=CAT_IDS[label]))
    for group, names in GROUPS.items():
        ref = reference_stats(gt_file, dets, ids_of(names), 'segm')
        for suffix, i in (('mAP', 0), ('mAP_50', 1), ('mAP_75', 2)):
            key = f'segm_{group}_{suffix}'
            assert metric.raw_results[key] == pytest.approx(ref[i], abs=1e-9)
    assert 'bbox_majority_mAP' in res
    assert res['segm_mAP'] != res['segm_majority_mAP']


def crowded_preds(gt: dict) -> List[dict]:
    """``make_preds`` plus 150 high-score false positives in the first
    image, all of class 0 (maxDets applies per image and class), so that
    maxDets=100 and maxDets=1000 give different APs."""
    preds = make_preds(gt)
    rng = np.random.RandomState(7)
    p = preds[0]
    xy = rng.randint(0, 150, size=(150, 2)).astype(np.float32)
    p['bboxes'] = np.concatenate([p['bboxes'], np.hstack([xy, xy + 10])])
    p['scores'] = np.concatenate(
        [p['scores'], rng.uniform(.9, 1, 150).astype(np.float32)])
    p['labels'] = np.concatenate(
        [p['labels'], np.zeros(150, np.int64)])  # > 100 for one class
    return preds


def test_group_ap_uses_summarize_max_dets(tmp_path):
    """AP uses maxDets=100, AP50/AP75 maxDets[2]=1000, as summarize()."""
    gt = make_gt()
    preds = crowded_preds(gt)
    gt_file = write_json(tmp_path, gt)
    metric, _ = run_metric(
        gt_file, to_data_samples(preds), class_groups=GROUPS)
    dets = to_coco_dets(preds)
    ref = reference_stats(gt_file, dets, ids_of(MAJORITY))
    raw = metric.raw_results
    assert raw['bbox_majority_mAP'] == pytest.approx(ref[0], abs=1e-9)
    assert raw['bbox_majority_mAP_50'] == pytest.approx(ref[1], abs=1e-9)
    assert raw['bbox_majority_mAP_75'] == pytest.approx(ref[2], abs=1e-9)
    # the fixture discriminates: with maxDets=1000 the AP is different
    ev = reference_eval(gt_file, dets, ids_of(MAJORITY))
    assert abs(summarize_ap(ev, max_dets=1000) - ref[0]) > 1e-4


def test_mp_eval_groups_follow_its_summarize(tmp_path):
    """mmdet's COCOevalMP.summarize uses maxDets[-1] for AP: groups too."""
    gt = make_gt()
    preds = crowded_preds(gt)
    gt_file = write_json(tmp_path, gt)
    metric, _ = run_metric(
        gt_file,
        to_data_samples(preds),
        class_groups=GROUPS,
        use_mp_eval=True)
    dets = to_coco_dets(preds)
    raw = metric.raw_results
    ev_all = reference_eval(gt_file, dets, CAT_IDS)
    assert raw['bbox_mAP'] == pytest.approx(
        summarize_ap(ev_all, max_dets=1000), abs=1e-9)
    for group, names in GROUPS.items():
        ev = reference_eval(gt_file, dets, ids_of(names))
        assert raw[f'bbox_{group}_mAP'] == pytest.approx(
            summarize_ap(ev, max_dets=1000), abs=1e-9)
        assert raw[f'bbox_{group}_mAP_50'] == pytest.approx(
            ev.stats[1], abs=1e-9)


def test_non_finite_scores_are_an_error_naming_the_file(demo):
    """A NaN score (a diverged checkpoint) makes the ranking, and so AP,
    meaningless: the metric stops with the first bad detection."""
    from cissod_core.datasets import DataCheckError
    gt, gt_file, preds = demo
    preds = [dict(p, scores=p['scores'].copy()) for p in preds]
    preds[1]['scores'][0] = np.nan
    with pytest.raises(DataCheckError,
                       match=r'result file .*bbox\.json: 1 of \d+ detections '
                       r'hold a number that is not finite, e\.g\. image id '
                       rf"{preds[1]['img_id']}, .*score nan.*a checkpoint "
                       'of a diverged run'):
        run_metric(gt_file, to_data_samples(preds), class_groups=GROUPS)
