"""Pseudo-label precision / recall per class (supplement Fig. 1-2) and the
teacher's mean prediction score per class (Fig. 4).

Runs the TEACHER of a checkpoint (``model.teacher`` of a semi-supervised
detector, else the detector itself; built from the work dir's dumped config
or ``--config``, eval mode) with the config's test pipeline on the unlabeled
images, and compares its pseudo labels with the true boxes of those images.

* Pseudo labels of class c: the teacher's detections with ``score >
  theta_c``. ``theta`` is ``--thr`` when given; else, for a
  ``ClassImbalanceMixin`` detector (CISSODSoftTeacher), its
  ``current_class_thresholds()`` at the checkpoint's iteration (GbT's
  thresholds after the SSOD warm-up, ``cls_pseudo_thr`` before); else
  ``semi_train_cfg.cls_pseudo_thr``.
* Matching: per image and class, greedily in decreasing score order, each
  pseudo label takes the unmatched true box of highest IoU if ``>= --iou``.
  precision = matched / pseudo labels, recall = matched / true boxes.
* Mean score: mean score of the teacher's candidates of each class (score
  above ``pseudo_label_initial_score_thr``, the detections GbT averages).
* Groups (majority / minority): pooled counts over the group's classes.

Writes to ``--out-dir`` (default ``<work_dir>/analysis``):
``pseudo_label_quality.{png,csv,json}``, ``mean_score.png`` and
``pseudo_labels.json`` (every detection above the lowest threshold used,
per image, to check or redo the numbers).

    python tools/analysis/pseudo_label_quality.py \
        work_dirs/compare/seed0/cissod \
        --max-images 200
"""
import argparse
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from tqdm import tqdm

from cissod.analysis.matching import greedy_match
from cissod.analysis.plotting import (
    bar_groups,
    new_figure,
    save_figure,
    write_csv,
    write_json,
)
from cissod.analysis.workdir import (
    build_eval_dataset,
    build_model,
    class_groups,
    class_names,
    default_out_dir,
    find_checkpoint,
    get_detector,
    iter_batches,
    load_config,
    resolve_data_path,
    restore_iter,
)

FIELDS = ('class', 'group', 'threshold', 'num_gt', 'num_pseudo', 'num_tp',
          'precision', 'recall', 'num_candidates', 'mean_score')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dir', help='training work dir')
    parser.add_argument('--config', help='default: the config dumped in '
                        'the work dir')
    parser.add_argument('--checkpoint', help='default: last_checkpoint')
    parser.add_argument('--ann', help='unlabeled images (COCO json; default: '
                        'the unlabeled dataset of the train dataloader)')
    parser.add_argument('--gt', help='their true boxes (default: --ann with '
                        '.json -> _gt.json)')
    parser.add_argument('--img-prefix', help='image folder of --ann '
                        '(default: the unlabeled dataset\'s)')
    parser.add_argument('--iou', type=float, default=0.5)
    parser.add_argument('--thr', type=float, nargs='+',
                        help='thresholds: one for all classes or one per '
                        'class (default: the run\'s, see above)')
    parser.add_argument('--max-images', type=int, help='first N images')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--out-dir', help='default: <work_dir>/analysis')
    parser.add_argument('--quiet', action='store_true', help='no progress '
                        'bar')
    return parser.parse_args(argv)


def _unlabeled_dataset_cfg(cfg) -> Optional[dict]:
    """The train dataloader's unlabeled dataset config (the one whose
    annotation file name contains 'unlabeled', else the last one)."""
    from cissod.utils import iter_dataset_cfgs
    loader = cfg.get('train_dataloader')
    if not loader:
        return None
    leaves = list(iter_dataset_cfgs(loader['dataset']))
    for ds in leaves:
        if 'unlabeled' in str(ds.get('ann_file', '')):
            return ds
    return leaves[-1] if len(leaves) > 1 else None


def resolve_inputs(cfg, ann: Optional[str], gt: Optional[str],
                   img_prefix: Optional[str]):
    """(ann_file, gt_file, img_prefix) with config defaults."""
    unl = _unlabeled_dataset_cfg(cfg) or {}
    root = unl.get('data_root') or cfg.test_dataloader.dataset.get(
        'data_root') or ''
    if ann is None:
        if not unl:
            raise ValueError('no unlabeled dataset in the config: pass --ann')
        ann = unl['ann_file']
    ann = resolve_data_path(ann, root)
    if gt is None:
        gt = ann[:-len('.json')] + '_gt.json' if ann.endswith('.json') \
            else ann + '_gt.json'
    gt = resolve_data_path(gt, root)
    if not osp.isfile(gt):
        raise FileNotFoundError(f'no ground truth {gt}: pass --gt')
    if img_prefix is None:
        img_prefix = (unl.get('data_prefix') or {}).get('img')
        if img_prefix and root and not osp.isabs(img_prefix):
            img_prefix = osp.join(root, img_prefix)
    return ann, gt, img_prefix


def load_gt(gt_file: str, names: Sequence[str]) -> Dict[int, dict]:
    """``{image_id: {'boxes': (k, 4) xyxy, 'labels': (k,)}}`` (crowd boxes
    left out), classes mapped by name."""
    with open(gt_file) as f:
        coco = json.load(f)
    index = {n: i for i, n in enumerate(names)}
    cat_to_label = {c['id']: index[c['name']] for c in coco['categories']
                    if c['name'] in index}
    out = {img['id']: dict(boxes=[], labels=[]) for img in coco['images']}
    for a in coco['annotations']:
        if a.get('iscrowd', 0) or a['category_id'] not in cat_to_label:
            continue
        x, y, w, h = a['bbox']
        entry = out.setdefault(a['image_id'], dict(boxes=[], labels=[]))
        entry['boxes'].append([x, y, x + w, y + h])
        entry['labels'].append(cat_to_label[a['category_id']])
    return {k: dict(boxes=np.asarray(v['boxes'], dtype=np.float64).reshape(
        -1, 4), labels=np.asarray(v['labels'], dtype=np.int64))
        for k, v in out.items()}


def run_thresholds(model, cfg, meta: dict, n: int,
                   override: Optional[Sequence[float]]):
    """(thresholds (n,) list, source string)."""
    if override:
        if len(override) not in (1, n):
            raise ValueError(f'--thr takes 1 or {n} values, got '
                             f'{len(override)}')
        values = list(override) * (n if len(override) == 1 else 1)
        return [float(v) for v in values], '--thr'
    if hasattr(model, 'current_class_thresholds'):
        it = restore_iter(meta)
        thr = model.current_class_thresholds()
        gbt = getattr(model, 'use_gbt', False) and \
            getattr(model, 'after_ssod_warmup', False)
        src = ('GbT thresholds at iteration' if gbt else
               'cls_pseudo_thr (no GbT in force) at iteration')
        return [float(v) for v in thr], f'{src} {it}'
    semi = cfg.model.get('semi_train_cfg') or {}
    if 'cls_pseudo_thr' in semi:
        return [float(semi['cls_pseudo_thr'])] * n, \
            'semi_train_cfg.cls_pseudo_thr'
    raise ValueError('the model has no pseudo-label threshold: pass --thr')


@torch.no_grad()
def predict(detector, dataset, indices: Sequence[int], batch_size: int,
            min_score: float, quiet: bool = False) -> List[dict]:
    """Per image ``{img_id, boxes, scores, labels}`` (original image
    coordinates) of the detections with ``score > min_score``."""
    out = []
    bar = tqdm(total=len(indices), desc='teacher', unit='img',
               disable=quiet)
    for batch in iter_batches(dataset, indices, batch_size):
        data = detector.data_preprocessor(batch, False)
        results = detector.predict(data['inputs'], data['data_samples'],
                                   rescale=True)
        for sample in results:
            pred = sample.pred_instances
            keep = pred.scores > min_score
            out.append(dict(
                img_id=int(sample.metainfo['img_id']),
                boxes=pred.bboxes[keep].cpu().double().tolist(),
                scores=pred.scores[keep].cpu().double().tolist(),
                labels=pred.labels[keep].cpu().long().tolist()))
        bar.update(len(results))
    bar.close()
    return out


def evaluate(preds: List[dict], gts: Dict[int, dict],
             thresholds: Sequence[float], iou: float, n: int,
             candidate_thr: float) -> dict:
    """Per-class counts (numpy arrays) from the detections."""
    num_gt = np.zeros(n, np.int64)
    num_pseudo = np.zeros(n, np.int64)
    num_tp = np.zeros(n, np.int64)
    num_cand = np.zeros(n, np.int64)
    score_sum = np.zeros(n, np.float64)
    thr = np.asarray(thresholds, np.float64)
    for p in preds:
        gt = gts.get(p['img_id'], dict(boxes=np.zeros((0, 4)),
                                       labels=np.zeros(0, np.int64)))
        boxes = np.asarray(p['boxes'], np.float64).reshape(-1, 4)
        scores = np.asarray(p['scores'], np.float64)
        labels = np.asarray(p['labels'], np.int64)
        cand = scores > candidate_thr
        num_cand += np.bincount(labels[cand], minlength=n)
        np.add.at(score_sum, labels[cand], scores[cand])
        kept = scores > thr[labels]
        num_gt += np.bincount(gt['labels'], minlength=n)
        for c in range(n):
            sel = kept & (labels == c)
            num_pseudo[c] += int(sel.sum())
            if sel.any():
                tp = greedy_match(boxes[sel], scores[sel],
                                  gt['boxes'][gt['labels'] == c], iou)
                num_tp[c] += int(tp.sum())
    return dict(num_gt=num_gt, num_pseudo=num_pseudo, num_tp=num_tp,
                num_candidates=num_cand, score_sum=score_sum)


def _ratio(a, b):
    return float(a) / float(b) if b else None


def summarize(counts: dict, names: Sequence[str], groups: Dict[str, str],
              thresholds: Sequence[float]) -> dict:
    per_class = []
    for c, name in enumerate(names):
        per_class.append({
            'class': name,
            'group': groups.get(name, ''),
            'threshold': float(thresholds[c]),
            'num_gt': int(counts['num_gt'][c]),
            'num_pseudo': int(counts['num_pseudo'][c]),
            'num_tp': int(counts['num_tp'][c]),
            'precision': _ratio(counts['num_tp'][c], counts['num_pseudo'][c]),
            'recall': _ratio(counts['num_tp'][c], counts['num_gt'][c]),
            'num_candidates': int(counts['num_candidates'][c]),
            'mean_score': _ratio(counts['score_sum'][c],
                                 counts['num_candidates'][c]),
        })
    summary = {}
    for group in sorted(set(groups.values())) + ['all']:
        rows = [r for r in per_class if group == 'all' or
                r['group'] == group]
        tp = sum(r['num_tp'] for r in rows)
        pseudo = sum(r['num_pseudo'] for r in rows)
        gt = sum(r['num_gt'] for r in rows)
        summary[group] = dict(num_gt=gt, num_pseudo=pseudo, num_tp=tp,
                              precision=_ratio(tp, pseudo),
                              recall=_ratio(tp, gt))
    return dict(per_class=per_class, groups=summary)


def plot_quality(result: dict, path: str, title: str = '') -> str:
    rows = result['per_class']
    names = [r['class'] for r in rows]
    fig, axes = new_figure(ncols=2, width=4.2, height=3.0)
    bar_groups(axes[0], names, {'precision': [r['precision'] for r in rows],
                                'recall': [r['recall'] for r in rows]},
               title=f'pseudo labels {title}'.strip())
    axes[0].set_ylim(0, 1.2)
    groups = result['groups']
    gnames = list(groups)
    bar_groups(axes[1], gnames,
               {'precision': [groups[g]['precision'] for g in gnames],
                'recall': [groups[g]['recall'] for g in gnames]},
               title='pooled by group')
    axes[1].set_ylim(0, 1.2)
    return save_figure(fig, path)


def plot_mean_score(result: dict, path: str) -> str:
    rows = result['per_class']
    fig, axes = new_figure(width=4.5, height=3.0)
    bar_groups(axes[0], [r['class'] for r in rows],
               {'mean score': [r['mean_score'] for r in rows]},
               ylabel='mean score',
               title='teacher mean score per class (candidates)')
    axes[0].plot(range(len(rows)), [r['threshold'] for r in rows], 'k_',
                 markersize=14, label='threshold')
    axes[0].legend(fontsize=7, ncol=2, loc='upper center')
    axes[0].set_ylim(0, 1.2)
    return save_figure(fig, path)


def plot_compare(results: Dict[str, dict], path: str) -> str:
    """Precision and recall per class of several runs (``{name: result}``,
    results of :func:`run` on the same images)."""
    first = next(iter(results.values()))
    names = [r['class'] for r in first['per_class']]
    fig, axes = new_figure(ncols=2, width=4.2, height=3.0)
    for ax, key in zip(axes, ('precision', 'recall')):
        bar_groups(ax, names, {run: [r[key] for r in res['per_class']]
                               for run, res in results.items()},
                   title=f'pseudo-label {key}')
        ax.set_ylim(0, 1.2)
    return save_figure(fig, path)


def run(work_dir: str, config: Optional[str] = None,
        checkpoint: Optional[str] = None, ann: Optional[str] = None,
        gt: Optional[str] = None, img_prefix: Optional[str] = None,
        iou: float = 0.5, thr: Optional[Sequence[float]] = None,
        max_images: Optional[int] = None, batch_size: int = 8,
        out_dir: Optional[str] = None, quiet: bool = False) -> dict:
    out = default_out_dir(work_dir, out_dir)
    cfg = load_config(work_dir, config)
    checkpoint = checkpoint or find_checkpoint(work_dir)
    model, meta = build_model(cfg, checkpoint)
    names = class_names(cfg, meta)
    n = len(names)
    groups = class_groups(cfg, names)
    thresholds, source = run_thresholds(model, cfg, meta, n, thr)
    semi = cfg.model.get('semi_train_cfg') or {}
    candidate_thr = float(semi.get('pseudo_label_initial_score_thr',
                                   min(thresholds)))
    ann, gt, img_prefix = resolve_inputs(cfg, ann, gt, img_prefix)
    dataset = build_eval_dataset(cfg, ann, img_prefix)
    indices = list(range(len(dataset)))[:max_images]
    detector = get_detector(model, 'teacher')
    min_score = min(min(thresholds), candidate_thr)
    preds = predict(detector, dataset, indices, batch_size, min_score,
                    quiet)
    counts = evaluate(preds, load_gt(gt, names), thresholds, iou, n,
                      candidate_thr)
    result = summarize(counts, names, groups, thresholds)
    result['meta'] = dict(
        work_dir=work_dir, checkpoint=checkpoint, iter=meta.get('iter'),
        thresholds=thresholds, thresholds_source=source, iou=iou,
        candidate_thr=candidate_thr, ann=ann, gt=gt,
        num_images=len(indices), dumped_min_score=min_score)
    files = dict(
        csv=write_csv(osp.join(out, 'pseudo_label_quality.csv'),
                      result['per_class'], FIELDS),
        json=write_json(osp.join(out, 'pseudo_label_quality.json'), result),
        pseudo=write_json(osp.join(out, 'pseudo_labels.json'),
                          dict(min_score=min_score, images=preds)),
        png=plot_quality(result, osp.join(out, 'pseudo_label_quality.png')),
        mean_score_png=plot_mean_score(result,
                                       osp.join(out, 'mean_score.png')))
    result['files'] = files
    return result


def format_table(result: dict) -> str:
    def pct(v):
        return '-' if v is None else f'{100 * v:.1f}'
    lines = ['| class | group | thr | GT | pseudo | precision | recall | '
             'mean score |', '|---|---|---:|---:|---:|---:|---:|---:|']
    for r in result['per_class']:
        score = '-' if r['mean_score'] is None else f"{r['mean_score']:.2f}"
        lines.append(
            f"| {r['class']} | {r['group']} | {r['threshold']:.2f} | "
            f"{r['num_gt']} | {r['num_pseudo']} | {pct(r['precision'])} | "
            f"{pct(r['recall'])} | {score} |")
    for g, s in result['groups'].items():
        lines.append(f"| **{g}** | | | {s['num_gt']} | {s['num_pseudo']} | "
                     f"{pct(s['precision'])} | {pct(s['recall'])} | |")
    return '\n'.join(lines)


def main(argv=None) -> dict:
    a = parse_args(argv)
    result = run(a.work_dir, a.config, a.checkpoint, a.ann, a.gt,
                 a.img_prefix, a.iou, a.thr, a.max_images, a.batch_size,
                 a.out_dir, a.quiet)
    print(f"thresholds: {result['meta']['thresholds_source']}")
    print(format_table(result))
    for path in result['files'].values():
        print(path)
    return result


if __name__ == '__main__':
    main()
