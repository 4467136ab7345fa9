"""tools/analysis scripts (paper figures) on a 4-iteration CPU run of
configs/demo/cissod_demo.py: files are written and their numbers equal
numbers recomputed here from the raw inputs by separate simple loops."""
import csv
import glob
import json
import math
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
from conftest import REPO, demo_cfg
from mmengine.runner import Runner

from cissod.analysis import (
    compare_logits,
    demo_report,
    plot_class_curves,
    pseudo_label_quality,
)
from cissod_core.demo import DEMO_CLASSES

#: thresholds low enough that an untrained teacher yields pseudo labels
LOW_THRESHOLDS = {
    'model.semi_train_cfg.pseudo_label_initial_score_thr': 0.05,
    'model.semi_train_cfg.cls_pseudo_thr': 0.11,
    'model.semi_train_cfg.rpn_pseudo_thr': 0.11,
}
CLASSES = DEMO_CLASSES


@pytest.fixture(scope='module')
def run_dir(demo_data_root, tmp_path_factory) -> str:
    """Work dir of a 4-iteration CISSOD run (per-class scalars logged every
    iteration, GbT after iteration 1, checkpoint at iteration 4)."""
    work_dir = str(tmp_path_factory.mktemp('analysis_run'))
    overrides = dict(LOW_THRESHOLDS)
    overrides.update({
        'model.cissod_cfg.ssod_warmup_iters': 1,
        'model.detector.roi_head.bbox_head.loss_cls.warmup_iters': 1,
        'default_hooks.checkpoint.interval': 4,
    })
    cfg = demo_cfg('configs/demo/cissod_demo.py', demo_data_root, work_dir,
                   max_iters=4, **overrides)
    for hook in cfg.custom_hooks:
        if 'log_interval' in hook:
            hook['log_interval'] = 1
        if hook['type'] == 'ClassRebalancingHook':
            hook['interval'] = 2
    Runner.from_cfg(cfg).train()
    assert osp.isfile(osp.join(work_dir, 'iter_4.pth'))
    return work_dir


def _read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def _raw_scalars(work_dir):
    """{key: {step: value}} read line by line from scalars.json."""
    out = {}
    for path in glob.glob(osp.join(work_dir, '*', 'vis_data',
                                   'scalars.json')):
        for line in open(path):
            rec = json.loads(line)
            for k, v in rec.items():
                out.setdefault(k, {})[rec['step']] = v
    return out


def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
             - inter)
    return inter / union if union > 0 else 0.0


def _gt_by_image(ann_file):
    coco = json.load(open(ann_file))
    names = {c['id']: c['name'] for c in coco['categories']}
    gt = {img['id']: [] for img in coco['images']}
    for a in coco['annotations']:
        x, y, w, h = a['bbox']
        gt[a['image_id']].append((CLASSES.index(names[a['category_id']]),
                                  [x, y, x + w, y + h]))
    return gt


def _close(a, b, tol=1e-6):
    if a is None or b is None or a == '' or b == '':
        return (a in (None, '')) and (b in (None, ''))
    return math.isclose(float(a), float(b), rel_tol=tol, abs_tol=tol)


def test_plot_class_curves_matches_scalars(run_dir, tmp_path):
    out = str(tmp_path / 'curves')
    res = plot_class_curves.run(run_dir, out)
    assert osp.isfile(osp.join(out, 'class_curves.png'))
    assert osp.getsize(osp.join(out, 'class_curves.png')) < 100_000
    raw = _raw_scalars(run_dir)
    expected = {(k, s, v) for k, steps in raw.items()
                if k.startswith(('gbr/weight/', 'gbt/thr/'))
                for s, v in steps.items()}
    assert len(expected) >= 4 * 8  # thresholds of 8 classes, 4 iterations
    rows = _read_csv(res['csv'])
    got = {(r['key'], int(r['step']), float(r['value'])) for r in rows}
    assert {g for g in got if g[0].startswith(('gbr/weight/', 'gbt/thr/'))
            } == expected
    for key, step, value in got:  # every value drawn is a logged value
        assert raw[key][step] == value
    # gradient figures only when their keys were logged (telemetry)
    has_grad = any(k.startswith('gbr/pos_grad/') for k in raw)
    assert ('grad_pos_neg.png' in res['skipped']) != has_grad
    if has_grad:
        res_cls = json.load(open(res['json']))['grad_class']
        assert res_cls == 'white_star'  # the last (rarest) class by default
        for key in (f'gbr/pos_grad/{res_cls}', f'gbr/neg_grad/{res_cls}'):
            assert {(s, v) for k, s, v in got if k == key} == set(
                raw[key].items())
    if 'gbr/grad_minority' in raw:
        assert {(s, v) for k, s, v in got if k == 'gbr/grad_minority'} == \
            set(raw['gbr/grad_minority'].items())
        assert osp.isfile(osp.join(out, 'grad_majority_minority.png'))


def test_plot_class_curves_gradient_figures(tmp_path):
    """Synthetic scalars with the gradient keys; and a log without any."""
    work_dir = tmp_path / 'wd'
    (work_dir / '20000101_000000' / 'vis_data').mkdir(parents=True)
    lines = []
    for step in (10, 20, 30):
        rec = {'step': step, 'gbr/grad_majority': 0.1 * step,
               'gbr/grad_minority': 0.01 * step}
        for i, c in enumerate(('a', 'b')):
            rec[f'gbr/pos_grad/{c}'] = step + i
            rec[f'gbr/neg_grad/{c}'] = 2 * step + i
        lines.append(json.dumps(rec))
    (work_dir / '20000101_000000' / 'vis_data' / 'scalars.json').write_text(
        '\n'.join(lines) + '\n')
    res = plot_class_curves.run(str(work_dir), None, 'a')
    names = sorted(osp.basename(f) for f in res['figures'])
    assert names == ['grad_majority_minority.png', 'grad_pos_neg_a.png']
    assert 'class_curves.png' in res['skipped']
    rows = _read_csv(res['csv'])
    got = {(r['key'], int(r['step'])): float(r['value']) for r in rows}
    assert got[('gbr/neg_grad/a', 20)] == 40
    assert got[('gbr/grad_minority', 30)] == pytest.approx(0.3)
    assert not any(k[0].endswith('/b') for k in got)
    # CLI, through a subprocess, with a class that was not logged
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/analysis/'
                                  'plot_class_curves.py'), str(work_dir),
         '--class', 'zzz', '--out-dir', str(tmp_path / 'cli')],
        capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "class 'zzz' not logged" in proc.stderr
    assert osp.isfile(tmp_path / 'cli' / 'grad_majority_minority.png')


def test_pseudo_label_quality_recomputed(run_dir, demo_data_root, tmp_path):
    out = str(tmp_path / 'quality')
    res = pseudo_label_quality.run(run_dir, max_images=12, out_dir=out,
                                   quiet=True)
    for key in ('csv', 'json', 'pseudo', 'png', 'mean_score_png'):
        assert osp.isfile(res['files'][key]), key
    assert osp.getsize(res['files']['png']) < 100_000
    meta = json.load(open(res['files']['json']))['meta']
    assert meta['num_images'] == 12
    assert meta['thresholds_source'].startswith('GbT')  # after warm-up
    thr = meta['thresholds']
    assert all(0.05 - 1e-6 <= t <= 0.11 + 1e-6 for t in thr)
    dump = json.load(open(res['files']['pseudo']))
    assert len(dump['images']) == 12
    gt = _gt_by_image(osp.join(demo_data_root, 'annotations',
                               'train_unlabeled_gt.json'))
    # independent count: greedy matching by a plain loop
    n = len(CLASSES)
    n_gt, n_pseudo, n_tp = [0] * n, [0] * n, [0] * n
    n_cand, s_cand = [0] * n, [0.0] * n
    for img in dump['images']:
        gts = gt[img['img_id']]
        for label, _ in gts:
            n_gt[label] += 1
        for c in range(n):
            dets = [(s, b) for b, s, lab in zip(img['boxes'], img['scores'],
                                               img['labels'])
                    if lab == c and s > thr[c]]
            dets.sort(key=lambda d: -d[0])
            free = [b for label, b in gts if label == c]
            for _, box in dets:
                n_pseudo[c] += 1
                ious = [_iou(box, g) for g in free]
                if ious and max(ious) >= 0.5:
                    n_tp[c] += 1
                    free.pop(ious.index(max(ious)))
            for s, lab in zip(img['scores'], img['labels']):
                if lab == c and s > meta['candidate_thr']:
                    n_cand[c] += 1
                    s_cand[c] += s
    assert sum(n_pseudo) > 0
    rows = {r['class']: r for r in _read_csv(res['files']['csv'])}
    for c, name in enumerate(CLASSES):
        r = rows[name]
        assert int(r['num_gt']) == n_gt[c]
        assert int(r['num_pseudo']) == n_pseudo[c]
        assert int(r['num_tp']) == n_tp[c]
        assert _close(r['precision'],
                      n_tp[c] / n_pseudo[c] if n_pseudo[c] else None)
        assert _close(r['recall'], n_tp[c] / n_gt[c] if n_gt[c] else None)
        assert _close(r['mean_score'],
                      s_cand[c] / n_cand[c] if n_cand[c] else None)
        assert _close(r['threshold'], thr[c])
    groups = json.load(open(res['files']['json']))['groups']
    minority = [CLASSES.index(c) for c in CLASSES[5:]]
    tp = sum(n_tp[c] for c in minority)
    g = sum(n_gt[c] for c in minority)
    assert groups['minority']['num_tp'] == tp
    assert _close(groups['minority']['recall'], tp / g if g else None)
    assert groups['all']['num_pseudo'] == sum(n_pseudo)

    # --thr override: one value for every class
    res2 = pseudo_label_quality.run(run_dir, max_images=4, thr=[0.3],
                                    out_dir=str(tmp_path / 'q2'), quiet=True)
    assert res2['meta']['thresholds'] == [0.3] * n
    assert res2['meta']['thresholds_source'] == '--thr'


def test_compare_logits_recomputed(run_dir, demo_data_root, tmp_path):
    out = str(tmp_path / 'logits')
    res = compare_logits.run([run_dir, run_dir], ['A', 'B'], max_images=4,
                             dump_rois=True, out_dir=out, quiet=True)
    for key in ('png', 'csv', 'json', 'rois_A', 'rois_B'):
        assert osp.isfile(res['files'][key]), key
    rois = json.load(open(res['files']['rois_A']))
    assert len(rois['labels']) > 0
    gt = _gt_by_image(osp.join(demo_data_root, 'annotations', 'val.json'))
    # demo images are 128 px: the test pipeline does not rescale them
    for img_id, box, label in zip(rois['img_id'], rois['boxes'],
                                  rois['labels']):
        ious = [(_iou(box, b), lab) for lab, b in gt[img_id]]
        best = max(ious)
        assert best[0] >= 0.5 and best[1] == label
    rows = _read_csv(res['files']['csv'])
    for c, name in enumerate(CLASSES):
        logits = [lg for lg, lab in zip(rois['logits'], rois['labels'])
                  if lab == c]
        probs = [math.exp(lg[c]) / sum(math.exp(v) for v in lg)
                 for lg in logits]
        a, b = [r for r in rows if r['class'] == name]
        assert int(a['num_rois']) == len(logits)
        assert _close(a['mean_logit'], sum(lg[c] for lg in logits) /
                      len(logits) if logits else None)
        assert _close(a['mean_prob'],
                      sum(probs) / len(probs) if probs else None)
        # same run twice: same numbers
        assert (a['mean_logit'], a['mean_prob']) == (b['mean_logit'],
                                                    b['mean_prob'])


def test_demo_report(run_dir, tmp_path):
    # a fake tools/test.py output, so that the AP table has numbers
    test_dir = osp.join(run_dir, 'test', '20000101_000000')
    os.makedirs(test_dir, exist_ok=True)
    with open(osp.join(test_dir, '20000101_000000.json'), 'w') as f:
        json.dump({'coco/bbox_mAP': 0.123, 'coco/bbox_majority_mAP': 0.2,
                   'coco/bbox_minority_mAP': 0.05,
                   'coco/bbox_AP_white_star': 0.042}, f)
    out = str(tmp_path / 'report.md')
    demo_report.run(run_dir, baseline=run_dir, out=out, max_images=3,
                    logit_images=3, quiet=True)
    text = open(out).read()
    assert '| CISSOD | 12.3 | 20.0 | 5.0 |' in text
    assert '| white_star |' in text and '4.2' in text
    links = re.findall(r'\]\(([^)]+)\)', text)
    assert any(link.endswith('pseudo_label_quality_compare.png')
               for link in links)
    assert any(link.endswith('logits.png') for link in links)
    for link in links:
        assert osp.isfile(osp.join(str(tmp_path), link)), link
