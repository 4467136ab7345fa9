"""Federated (LVIS) evaluation and the faster_coco_eval backend of
``GroupCocoMetric``: parity with an independent naive implementation of the
LVIS protocol written here, with the official ``lvis`` package (0.5.3, run
with numpy's removed ``np.float`` alias restored inside the test only), and
with pycocotools for COCO-style evaluation.

Fixtures (``cissod_core.evaluation.make_detection_set``): LVIS-shaped, with
negative and not-exhaustive categories, images without annotations, a
category with no ground truth, and images with > 300 detections.
"""
import copy
import json
from collections import defaultdict
from typing import Dict, List, Sequence

import numpy as np
import pytest
import torch

from cissod.evaluation.metrics import GroupCocoMetric
from cissod.evaluation.metrics.eval_backends import BACKENDS
from cissod_core.evaluation import make_detection_set

TOL = 1e-4
NUM_CLASSES = 12
CROWDED = (0, 5, 9)  # images with > 300 detections


# --------------------------------------------- naive LVIS reference (area all)
def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two xywh boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def naive_federated_ap(gt: dict, dets: List[dict], max_dets: int = 300,
                       thrs: Sequence[float] = tuple(
                           np.linspace(.5, .95, 10))) -> Dict[int, np.ndarray]:
    """Per category, the AP at each IoU threshold under the LVIS protocol
    (area range 'all', no crowd), written from the protocol's description:

    1. keep the ``max_dets`` best-scoring detections of each image;
    2. a detection of category c in image i counts only if c is annotated
       in i or in i's ``neg_category_ids``;
    3. per image and category, detections in score order take the unmatched
       ground truth of highest IoU >= threshold;
    4. an unmatched detection of a category in the image's
       ``not_exhaustive_category_ids`` is ignored, others are false
       positives;
    5. over all images: precision made non-increasing, read at the 101
       recall points 0, 0.01, ... 1 (0 beyond the last recall reached); AP
       = their mean. Categories without ground truth have no AP.

    Returns:
        dict: category id -> ``(len(thrs),)`` APs.
    """
    per_img = defaultdict(list)
    for d in dets:
        per_img[d['image_id']].append(d)
    kept = []
    for img_dets in per_img.values():
        order = sorted(range(len(img_dets)),
                       key=lambda j: (-img_dets[j]['score'], j))
        kept += [img_dets[j] for j in order[:max_dets]]
    imgs = {img['id']: img for img in gt['images']}
    gts = defaultdict(list)
    for a in gt['annotations']:
        gts[a['image_id'], a['category_id']].append(a['bbox'])
    present = defaultdict(set)
    for (img_id, cat_id) in gts:
        present[img_id].add(cat_id)
    dts = defaultdict(list)
    for d in kept:
        img = imgs[d['image_id']]
        if d['category_id'] in present[d['image_id']] or \
                d['category_id'] in img['neg_category_ids']:
            dts[d['image_id'], d['category_id']].append(d)
    rec_pts = np.linspace(0, 1, 101)
    out = {}
    for cat in gt['categories']:
        c = cat['id']
        n_gt = sum(len(b) for (i, cc), b in gts.items() if cc == c)
        if n_gt == 0:
            continue
        aps = []
        for thr in thrs:
            scored = []  # (score, is_tp) of the counted detections
            for img_id in imgs:
                g_boxes = gts.get((img_id, c), [])
                d_list = sorted(dts.get((img_id, c), []),
                                key=lambda d: -d['score'])
                used = [False] * len(g_boxes)
                nel = c in imgs[img_id]['not_exhaustive_category_ids']
                for d in d_list:
                    best, best_iou = -1, min(thr, 1 - 1e-10)
                    for k, g in enumerate(g_boxes):
                        if used[k]:
                            continue
                        v = _iou(d['bbox'], g)
                        if v >= best_iou:
                            best, best_iou = k, v
                    if best >= 0:
                        used[best] = True
                        scored.append((d['score'], 1))
                    elif not nel:
                        scored.append((d['score'], 0))
            scored.sort(key=lambda s: -s[0])
            tp = np.cumsum([s[1] for s in scored])
            fp = np.cumsum([1 - s[1] for s in scored])
            if len(scored) == 0:
                aps.append(0.0)
                continue
            rc = tp / n_gt
            pr = tp / (tp + fp)
            for j in range(len(pr) - 2, -1, -1):
                pr[j] = max(pr[j], pr[j + 1])
            sampled = []
            for r in rec_pts:
                j = int(np.searchsorted(rc, r, side='left'))
                sampled.append(pr[j] if j < len(pr) else 0.0)
            aps.append(float(np.mean(sampled)))
        out[c] = np.asarray(aps)
    return out


def naive_summary(per_cat: Dict[int, np.ndarray],
                  cat_ids: Sequence[int], t: slice = slice(None)) -> float:
    vals = [per_cat[c][t] for c in cat_ids if c in per_cat]
    return float(np.mean(np.concatenate([np.atleast_1d(v) for v in vals]))) \
        if vals else -1.0


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope='module')
def lvis_set():
    gt, dets = make_detection_set(
        40, NUM_CLASSES, lvis=True, seed=3, gt_per_image=5,
        fp_per_image=25, crowded_images=CROWDED, crowded_dets=330,
        empty_fraction=0.1)
    # a rare category with no ground truth at all, only verified absent
    last = gt['categories'][-1]['id']
    gt['annotations'] = [a for a in gt['annotations']
                         if a['category_id'] != last]
    for img in gt['images'][:10]:
        img['neg_category_ids'] = sorted(set(img['neg_category_ids'])
                                         | {last})
        img['not_exhaustive_category_ids'] = [
            c for c in img['not_exhaustive_category_ids'] if c != last]
    # one image with no annotation and no verified category
    gt['images'][-1]['neg_category_ids'] = []
    gt['annotations'] = [a for a in gt['annotations']
                         if a['image_id'] != gt['images'][-1]['id']]
    gt['images'][-1]['not_exhaustive_category_ids'] = []
    return gt, dets


def test_fixture_has_the_lvis_cases(lvis_set):
    gt, dets = lvis_set
    with_ann = {a['image_id'] for a in gt['annotations']}
    empty = [i for i in gt['images'] if i['id'] not in with_ann]
    assert len(empty) >= 3
    assert any(i['neg_category_ids'] for i in empty)
    assert sum(bool(i['not_exhaustive_category_ids'])
               for i in gt['images']) >= 5
    counts = defaultdict(int)
    for d in dets:
        counts[d['image_id']] += 1
    assert sum(n > 300 for n in counts.values()) == len(CROWDED)
    assert {c['frequency'] for c in gt['categories']} == {'r', 'c', 'f'}


def _to_samples(gt: dict, dets: List[dict]) -> List[dict]:
    """mmdet data samples (float32 xyxy boxes, labels in file order)."""
    label_of = {c['id']: k for k, c in enumerate(gt['categories'])}
    per_img = defaultdict(list)
    for d in dets:
        per_img[d['image_id']].append(d)
    samples = []
    for img in gt['images']:
        ds = per_img[img['id']]
        boxes = np.asarray([[d['bbox'][0], d['bbox'][1],
                             d['bbox'][0] + d['bbox'][2],
                             d['bbox'][1] + d['bbox'][3]] for d in ds],
                           np.float32).reshape(-1, 4)
        samples.append(dict(
            img_id=img['id'], ori_shape=(img['height'], img['width']),
            pred_instances=dict(
                bboxes=torch.from_numpy(boxes),
                scores=torch.tensor([d['score'] for d in ds],
                                    dtype=torch.float32),
                labels=torch.tensor([label_of[d['category_id']]
                                     for d in ds], dtype=torch.int64))))
    return samples


def _run(gt: dict, dets: List[dict], tmp_path, **kwargs) -> GroupCocoMetric:
    path = tmp_path / f'gt_{len(list(tmp_path.iterdir()))}.json'
    path.write_text(json.dumps(gt))
    metric = GroupCocoMetric(ann_file=str(path), **kwargs)
    metric.dataset_meta = dict(
        classes=tuple(c['name'] for c in gt['categories']))
    samples = _to_samples(gt, dets)
    metric.process({}, samples)
    metric.evaluate(size=len(samples))
    return metric


def _groups(gt: dict) -> Dict[str, List[str]]:
    names = [c['name'] for c in gt['categories']]
    return dict(majority=names[:5], minority=names[5:])


def _ids(gt: dict, names: Sequence[str]) -> List[int]:
    return [c['id'] for c in gt['categories'] if c['name'] in names]


def _freq_ids(gt: dict, code: str) -> List[int]:
    return [c['id'] for c in gt['categories'] if c['frequency'] == code]


@pytest.fixture(scope='module')
def federated_metric(lvis_set, tmp_path_factory):
    gt, dets = lvis_set
    return _run(gt, dets, tmp_path_factory.mktemp('fed'),
                backend='faster_coco_eval', federated=True,
                class_groups=_groups(gt), classwise=True,
                metric_items=['mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m',
                              'mAP_l', 'AR@300'])


# ------------------------------------------------------------------- tests
def test_federated_matches_naive_reference(lvis_set, federated_metric):
    gt, dets = lvis_set
    raw = federated_metric.raw_results
    ref = naive_federated_ap(gt, dets)
    all_ids = [c['id'] for c in gt['categories']]
    errors = {
        'mAP': raw['bbox_mAP'] - naive_summary(ref, all_ids),
        'mAP_50': raw['bbox_mAP_50'] - naive_summary(ref, all_ids, 0),
        'mAP_75': raw['bbox_mAP_75'] - naive_summary(ref, all_ids, 5),
    }
    for code in 'rcf':
        errors[f'AP{code}'] = raw[f'bbox_AP{code}'] - naive_summary(
            ref, _freq_ids(gt, code))
    for group, names in _groups(gt).items():
        ids = _ids(gt, names)
        errors[group] = raw[f'bbox_{group}_mAP'] - naive_summary(ref, ids)
        errors[group + '_50'] = raw[f'bbox_{group}_mAP_50'] - \
            naive_summary(ref, ids, 0)
    for cat in gt['categories']:
        expected = naive_summary(ref, [cat['id']])
        errors[cat['name']] = raw[f'bbox_AP_{cat["name"]}'] - expected
    worst = max(abs(e) for e in errors.values())
    print(f'max |federated - naive| = {worst:.2e}')
    assert worst <= TOL, errors
    # the last category has no ground truth: no AP, as LVISEval
    assert raw[f'bbox_AP_{gt["categories"][-1]["name"]}'] == -1


def test_fixture_discriminates(lvis_set, tmp_path):
    """Each rule of the protocol changes the numbers on this fixture."""
    gt, dets = lvis_set
    ref = naive_federated_ap(gt, dets)
    ids = [c['id'] for c in gt['categories']]
    ap = naive_summary(ref, ids)
    assert abs(naive_summary(naive_federated_ap(gt, dets, 10**6), ids)
               - ap) > 1e-3  # the 300 limit
    no_nel = copy.deepcopy(gt)
    for img in no_nel['images']:
        img['not_exhaustive_category_ids'] = []
    assert abs(naive_summary(naive_federated_ap(no_nel, dets), ids)
               - ap) > 1e-3  # not-exhaustive categories
    no_neg = copy.deepcopy(gt)
    for img in no_neg['images']:
        img['neg_category_ids'] = []
    assert abs(naive_summary(naive_federated_ap(no_neg, dets), ids)
               - ap) > 1e-3  # negative categories
    coco = _run(gt, dets, tmp_path, backend='faster_coco_eval')
    assert abs(coco.raw_results['bbox_mAP'] - ap) > 1e-2


@pytest.fixture
def lvis_api(monkeypatch):
    """The official lvis package, with numpy's removed ``np.float`` alias
    restored for the duration of one test."""
    lvis = pytest.importorskip('lvis')
    monkeypatch.setattr(np, 'float', float, raising=False)
    return lvis


def test_federated_matches_lvis_package(lvis_set, federated_metric,
                                        lvis_api, tmp_path):
    gt, dets = lvis_set
    path = tmp_path / 'lvis_gt.json'
    path.write_text(json.dumps(gt))
    lvis_gt = lvis_api.LVIS(str(path))
    lvis_dt = lvis_api.LVISResults(lvis_gt, copy.deepcopy(dets), max_dets=300)
    ev = lvis_api.LVISEval(lvis_gt, lvis_dt, 'bbox')
    ev.run()
    res = ev.get_results()
    raw = federated_metric.raw_results
    pairs = dict(AP='mAP', AP50='mAP_50', AP75='mAP_75', APs='mAP_s',
                 APm='mAP_m', APl='mAP_l', APr='APr', APc='APc', APf='APf')
    pairs['AR@300'] = 'AR@300'
    errors = {k: raw[f'bbox_{v}'] - float(res[k]) for k, v in pairs.items()}
    # groups: the lvis package restricted to the group's categories
    for group, names in _groups(gt).items():
        sub = lvis_api.LVISEval(lvis_gt, lvis_dt, 'bbox')
        sub.params.cat_ids = sorted(_ids(gt, names))
        sub.run()
        errors[group] = raw[f'bbox_{group}_mAP'] - float(
            sub.get_results()['AP'])
    worst = max(abs(e) for e in errors.values())
    print(f'max |federated - lvis package| = {worst:.2e}')
    assert worst <= TOL, errors


@pytest.mark.parametrize('use_crowded', [False, True])
def test_faster_backend_matches_pycocotools(tmp_path, use_crowded):
    """COCO-style: every key (overall, AR, groups, per class) within 1e-4
    of pycocotools, on a fixture with a crowd box and > 100 detections of
    one class in some images."""
    gt, dets = make_detection_set(
        30, NUM_CLASSES, seed=5, crowded_images=CROWDED if use_crowded
        else (), crowded_dets=150)
    gt['annotations'][0]['iscrowd'] = 1
    kwargs = dict(class_groups=_groups(gt), classwise=True,
                  metric_items=['mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m',
                                'mAP_l', 'AR@100', 'AR@300', 'AR@1000',
                                'AR_s@1000', 'AR_m@1000', 'AR_l@1000'])
    ref = _run(gt, dets, tmp_path, **kwargs).raw_results
    fast = _run(gt, dets, tmp_path, backend='faster_coco_eval',
                **kwargs).raw_results
    assert set(fast) == set(ref)
    worst = max(abs(fast[k] - ref[k]) for k in ref)
    print(f'max |faster_coco_eval - pycocotools| = {worst:.2e}')
    assert worst <= TOL, {k: fast[k] - ref[k] for k in ref}
    assert 0 < ref['bbox_mAP'] < 1


def test_one_evaluation_pass(lvis_set, tmp_path, monkeypatch):
    from faster_coco_eval import COCOeval_faster
    calls = defaultdict(int)
    for name in ('evaluate', 'accumulate'):
        original = getattr(COCOeval_faster, name)

        def counted(self, *a, _n=name, _o=original, **k):
            calls[_n] += 1
            return _o(self, *a, **k)

        monkeypatch.setattr(COCOeval_faster, name, counted)
    gt, dets = lvis_set
    metric = _run(gt, dets, tmp_path, backend='faster_coco_eval',
                  federated=True, class_groups=_groups(gt), classwise=True)
    assert calls == {'evaluate': 1, 'accumulate': 1}
    keys = set(metric.raw_results)
    assert {'bbox_mAP', 'bbox_APr', 'bbox_APc', 'bbox_APf',
            'bbox_majority_mAP', 'bbox_minority_mAP'} <= keys


def test_backend_errors(lvis_set, tmp_path):
    gt, _ = lvis_set
    with pytest.raises(ValueError) as err:
        GroupCocoMetric(backend='lvis')
    for name in BACKENDS:
        assert name in str(err.value)
    with pytest.raises(ValueError, match='faster_coco_eval'):
        GroupCocoMetric(federated=True)
    coco_gt, _ = make_detection_set(3, 4, seed=1)
    path = tmp_path / 'coco.json'
    path.write_text(json.dumps(coco_gt))
    with pytest.raises(ValueError, match='neg_category_ids'):
        GroupCocoMetric(ann_file=str(path), backend='faster_coco_eval',
                        federated=True)
    with pytest.raises(KeyError, match='AR@100'):
        GroupCocoMetric(backend='faster_coco_eval', federated=True,
                        metric_items=['AR@100'])
    with pytest.raises(ValueError, match='use_mp_eval'):
        GroupCocoMetric(backend='faster_coco_eval', use_mp_eval=True)


@pytest.mark.parametrize('backend,federated', [('pycocotools', False),
                                               ('faster_coco_eval', False),
                                               ('faster_coco_eval', True)])
def test_category_chunks_give_the_same_arrays(lvis_set, backend, federated):
    """Evaluating the categories in chunks (bounded memory) == one call."""
    from cissod.evaluation.metrics.eval_backends import run_evaluation
    gt, dets = lvis_set
    cat_ids = [c['id'] for c in gt['categories']]
    img_ids = [img['id'] for img in gt['images']]
    max_dets = [300] if federated else [100, 300, 1000]

    def run(max_pairs):
        return run_evaluation(backend, copy.deepcopy(gt),
                              copy.deepcopy(dets), 'bbox', cat_ids, img_ids,
                              max_dets, np.linspace(.5, .95, 10),
                              federated=federated, max_pairs=max_pairs)

    whole = run(None)
    chunked = run(5 * len(img_ids))  # chunks of 5, 5 and 2 categories
    assert isinstance(chunked.evaluator, list) and \
        len(chunked.evaluator) == 3
    assert chunked.cat_ids == whole.cat_ids == sorted(cat_ids)
    np.testing.assert_array_equal(chunked.precision, whole.precision)
    np.testing.assert_array_equal(chunked.recall, whole.recall)
    assert (whole.precision > 0).any()


def test_federated_without_predictions(lvis_set, tmp_path):
    gt, _ = lvis_set
    metric = _run(gt, [], tmp_path, backend='faster_coco_eval',
                  federated=True)
    raw = metric.raw_results
    assert raw['bbox_mAP'] == 0.0 and raw['bbox_APf'] == 0.0


def _segm_set():
    """Small LVIS-shaped set with rectangle polygons and rectangle masks."""
    gt, dets = make_detection_set(8, 6, lvis=True, seed=11, gt_per_image=4,
                                  fp_per_image=8, crowded_images=(1, ),
                                  crowded_dets=300)
    for a in gt['annotations']:
        x, y, w, h = a['bbox']
        a['segmentation'] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
    samples = _to_samples(gt, dets)
    for img, sample in zip(gt['images'], samples):
        boxes = sample['pred_instances']['bboxes'].numpy()
        masks = np.zeros((len(boxes), img['height'], img['width']), bool)
        for i, (x1, y1, x2, y2) in enumerate(np.round(boxes).astype(int)):
            masks[i, y1:y2, x1:x2] = True
        sample['pred_instances']['masks'] = torch.from_numpy(masks)
    return gt, samples


def _run_samples(gt, samples, tmp_path, name, **kwargs):
    path = tmp_path / f'{name}.json'
    path.write_text(json.dumps(gt))
    metric = GroupCocoMetric(ann_file=str(path), metric=['bbox', 'segm'],
                             outfile_prefix=str(tmp_path / name), **kwargs)
    metric.dataset_meta = dict(
        classes=tuple(c['name'] for c in gt['categories']))
    metric.process({}, copy.deepcopy(samples))
    metric.evaluate(size=len(samples))
    return metric


def test_segm_parity(tmp_path, lvis_api):
    """Masks: faster_coco_eval == pycocotools (COCO-style) and federated
    faster_coco_eval == lvis 0.5.3, within 1e-4."""
    gt, samples = _segm_set()
    groups = dict(majority=['class_0', 'class_1', 'class_2'],
                  minority=['class_3', 'class_4', 'class_5'])
    ref = _run_samples(gt, samples, tmp_path, 'coco_ref',
                       class_groups=groups).raw_results
    fast = _run_samples(gt, samples, tmp_path, 'coco_fast',
                        class_groups=groups,
                        backend='faster_coco_eval').raw_results
    assert set(fast) == set(ref)
    coco_err = max(abs(fast[k] - ref[k]) for k in ref)
    assert 0 < ref['segm_mAP'] < 1

    fed = _run_samples(gt, samples, tmp_path, 'fed', federated=True,
                       backend='faster_coco_eval').raw_results
    lvis_gt = lvis_api.LVIS(str(tmp_path / 'fed.json'))
    lvis_errors = {}
    for iou_type in ('bbox', 'segm'):
        with open(tmp_path / f'fed.{iou_type}.json') as f:
            dets = json.load(f)
        if iou_type == 'segm':
            for d in dets:
                d.pop('bbox', None)  # as GroupCocoMetric: the mask's area
        ev = lvis_api.LVISEval(
            lvis_gt, lvis_api.LVISResults(lvis_gt, dets, max_dets=300),
            iou_type)
        ev.run()
        res = ev.get_results()
        for k, v in dict(AP='mAP', AP50='mAP_50', APr='APr', APc='APc',
                         APf='APf').items():
            lvis_errors[f'{iou_type}_{k}'] = fed[f'{iou_type}_{v}'] - float(
                res[k])
    lvis_err = max(abs(e) for e in lvis_errors.values())
    print(f'segm: max |faster - pycocotools| = {coco_err:.2e}, '
          f'max |federated - lvis| = {lvis_err:.2e}')
    assert coco_err <= TOL
    assert lvis_err <= TOL, lvis_errors
    assert 0 < fed['segm_mAP'] < 1 and fed['segm_mAP'] != fed['bbox_mAP']
    assert fed['segm_mAP'] != ref['segm_mAP']  # federated != COCO-style
