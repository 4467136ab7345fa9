"""Mean RoI classification logit and softmax probability per class, for
the RoIs matched to ground truth of each class, on the val set, for one or
more runs side by side (paper Fig. 6: with vs without GbR).

For every run: build the model from the work dir's dumped config (or
``--config``), load the last checkpoint, take the TEACHER of a
semi-supervised detector (``--which student`` for the student), run the
RPN on the test-pipeline images, classify its proposals with the RoI head,
and match every proposal to the ground-truth box of highest IoU (``>=
--iou``). For the RoIs matched to class c: the mean of the class-c logit
and of the class-c softmax probability (background included).

Writes to ``--out-dir`` (default ``<first work dir>/analysis``):
``logits.png`` (two panels), ``logits.csv``, ``logits.json`` and, with
``--dump-rois``, ``rois_<name>.json`` (every matched RoI: image, box, label,
logit, probability).

    python tools/analysis/compare_logits.py \
        work_dirs/compare/seed0/soft_teacher \
        work_dirs/compare/seed0/cissod --names "Soft Teacher" CISSOD
"""
import argparse
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from tqdm import tqdm

from cissod.analysis.matching import box_iou
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
)

FIELDS = ('run', 'class', 'group', 'num_gt', 'num_rois', 'mean_logit',
          'mean_prob')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dirs', nargs='+', help='one or more training '
                        'work dirs (e.g. without and with GbR)')
    parser.add_argument('--names', nargs='+', help='run names (default: '
                        'the work dir names)')
    parser.add_argument('--configs', nargs='+', help='configs (default: '
                        'the ones dumped in the work dirs)')
    parser.add_argument('--checkpoints', nargs='+', help='default: '
                        'last_checkpoint of each work dir')
    parser.add_argument('--ann', help='COCO json (default: the test '
                        'dataset\'s, i.e. val)')
    parser.add_argument('--img-prefix', help='image folder of --ann')
    parser.add_argument('--which', default='teacher',
                        choices=('teacher', 'student'))
    parser.add_argument('--iou', type=float, default=0.5)
    parser.add_argument('--max-images', type=int, help='first N images')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--dump-rois', action='store_true')
    parser.add_argument('--out-dir', help='default: <first work dir>/'
                        'analysis')
    parser.add_argument('--quiet', action='store_true')
    return parser.parse_args(argv)


@torch.no_grad()
def matched_roi_logits(detector, dataset, indices: Sequence[int],
                       iou_thr: float, batch_size: int = 8,
                       desc: str = 'rois', quiet: bool = False) -> dict:
    """Matched RoIs: ``{'img_id', 'boxes' (input coordinates), 'labels',
    'logits' (k, C+1), 'gt_count' (C,)}`` as numpy arrays."""
    from mmdet.structures.bbox import bbox2roi
    n = detector.roi_head.bbox_head.num_classes
    out = dict(img_id=[], boxes=[], labels=[], logits=[],
               gt_count=np.zeros(n, np.int64))
    bar = tqdm(total=len(indices), desc=desc, unit='img', disable=quiet)
    for batch in iter_batches(dataset, indices, batch_size):
        data = detector.data_preprocessor(batch, False)
        samples = data['data_samples']
        x = detector.extract_feat(data['inputs'])
        proposals = detector.rpn_head.predict(x, samples, rescale=False)
        rois = bbox2roi([p.bboxes for p in proposals])
        logits = detector.roi_head._bbox_forward(x, rois)['cls_score']
        logits = logits.cpu().double().numpy()
        rois = rois.cpu().double().numpy()
        for i, sample in enumerate(samples):
            gt_boxes = sample.gt_instances.bboxes
            gt_boxes = getattr(gt_boxes, 'tensor', gt_boxes)
            gt_boxes = gt_boxes.cpu().double().numpy().reshape(-1, 4)
            gt_labels = sample.gt_instances.labels.cpu().numpy()
            out['gt_count'] += np.bincount(gt_labels, minlength=n)
            sel = rois[:, 0] == i
            boxes = rois[sel, 1:]
            if len(gt_boxes) == 0 or len(boxes) == 0:
                continue
            ious = box_iou(boxes, gt_boxes)
            best = ious.argmax(1)
            keep = ious[np.arange(len(boxes)), best] >= iou_thr
            out['img_id'] += [int(sample.metainfo['img_id'])] * int(
                keep.sum())
            out['boxes'].append(boxes[keep])
            out['labels'].append(gt_labels[best[keep]])
            out['logits'].append(logits[sel][keep])
        bar.update(len(samples))
    bar.close()
    out['boxes'] = np.concatenate(out['boxes']) if out['boxes'] else \
        np.zeros((0, 4))
    out['labels'] = np.concatenate(out['labels']).astype(np.int64) \
        if out['labels'] else np.zeros(0, np.int64)
    out['logits'] = np.concatenate(out['logits']) if out['logits'] else \
        np.zeros((0, n + 1))
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def class_means(rois: dict, n: int) -> Dict[str, List]:
    """Per class: RoI count, mean own-class logit and probability."""
    labels, logits = rois['labels'], rois['logits']
    own = logits[np.arange(len(labels)), labels] if len(labels) else \
        np.zeros(0)
    prob = softmax(logits)[np.arange(len(labels)), labels] if len(labels) \
        else np.zeros(0)
    count = np.bincount(labels, minlength=n)
    res = dict(num_rois=count.tolist(), mean_logit=[], mean_prob=[])
    for c in range(n):
        m = labels == c
        res['mean_logit'].append(float(own[m].mean()) if m.any() else None)
        res['mean_prob'].append(float(prob[m].mean()) if m.any() else None)
    return res


def run(work_dirs: Sequence[str], names: Optional[Sequence[str]] = None,
        configs: Optional[Sequence[str]] = None,
        checkpoints: Optional[Sequence[str]] = None,
        ann: Optional[str] = None, img_prefix: Optional[str] = None,
        which: str = 'teacher', iou: float = 0.5,
        max_images: Optional[int] = None, batch_size: int = 8,
        dump_rois: bool = False, out_dir: Optional[str] = None,
        quiet: bool = False) -> dict:
    names = list(names or [osp.basename(w.rstrip('/')) for w in work_dirs])
    for opt, values in (('names', names), ('configs', configs),
                        ('checkpoints', checkpoints)):
        if values is not None and len(values) != len(work_dirs):
            raise ValueError(f'{len(values)} {opt} for {len(work_dirs)} '
                             'work dirs')
    out = default_out_dir(work_dirs[0], out_dir)
    runs, rows, files = {}, [], {}
    classes, groups = None, {}
    for k, (work_dir, name) in enumerate(zip(work_dirs, names)):
        cfg = load_config(work_dir, configs[k] if configs else None)
        ckpt = checkpoints[k] if checkpoints else find_checkpoint(work_dir)
        model, meta = build_model(cfg, ckpt)
        detector = get_detector(model, which)
        run_classes = class_names(cfg, meta)
        if classes is None:
            classes, groups = run_classes, class_groups(cfg, run_classes)
        elif run_classes != classes:
            raise ValueError(f'{work_dir} has other classes than '
                             f'{work_dirs[0]}')
        dataset = build_eval_dataset(cfg, ann, img_prefix, with_gt=True)
        indices = list(range(len(dataset)))[:max_images]
        rois = matched_roi_logits(detector, dataset, indices, iou,
                                  batch_size, desc=name, quiet=quiet)
        means = class_means(rois, len(classes))
        runs[name] = dict(work_dir=work_dir, checkpoint=ckpt,
                          iter=meta.get('iter'), num_images=len(indices),
                          num_gt=rois['gt_count'].tolist(), **means)
        for c, cls in enumerate(classes):
            rows.append({'run': name, 'class': cls,
                         'group': groups.get(cls, ''),
                         'num_gt': int(rois['gt_count'][c]),
                         'num_rois': means['num_rois'][c],
                         'mean_logit': means['mean_logit'][c],
                         'mean_prob': means['mean_prob'][c]})
        if dump_rois:
            safe = ''.join(ch if ch.isalnum() or ch in '-_' else '_'
                           for ch in name)
            files[f'rois_{name}'] = write_json(
                osp.join(out, f'rois_{safe}.json'),
                dict(img_id=rois['img_id'], boxes=rois['boxes'].tolist(),
                     labels=rois['labels'].tolist(),
                     logits=rois['logits'].tolist()))
        del model
    result = dict(classes=classes, groups=groups, which=which, iou=iou,
                  runs=runs)
    fig, axes = new_figure(ncols=2, width=4.2, height=3.0)
    bar_groups(axes[0], classes, {n: r['mean_logit'] for n, r in
                                  runs.items()},
               ylabel='mean logit', title='RoI logit of the true class')
    values = [v for r in runs.values() for v in r['mean_logit']
              if v is not None]
    if values:  # room for the legend
        axes[0].set_ylim(min(0.0, min(values)) * 1.1,
                         max(0.0, max(values)) * 1.3 + 1e-6)
    bar_groups(axes[1], classes, {n: r['mean_prob'] for n, r in
                                  runs.items()},
               ylabel='mean probability', title='softmax probability')
    axes[1].set_ylim(0, 1.2)
    files.update(
        png=save_figure(fig, osp.join(out, 'logits.png')),
        csv=write_csv(osp.join(out, 'logits.csv'), rows, FIELDS),
        json=write_json(osp.join(out, 'logits.json'), result))
    result['files'] = files
    return result


def format_table(result: dict) -> str:
    names = list(result['runs'])
    lines = ['| class | ' + ' | '.join(f'{n} logit | {n} prob'
                                       for n in names) + ' |',
             '|---|' + '---:|---:|' * len(names)]
    for c, cls in enumerate(result['classes']):
        cells = []
        for n in names:
            r = result['runs'][n]
            for key in ('mean_logit', 'mean_prob'):
                v = r[key][c]
                cells.append('-' if v is None else f'{v:.2f}')
        lines.append(f'| {cls} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv=None) -> dict:
    a = parse_args(argv)
    result = run(a.work_dirs, a.names, a.configs, a.checkpoints, a.ann,
                 a.img_prefix, a.which, a.iou, a.max_images, a.batch_size,
                 a.dump_rois, a.out_dir, a.quiet)
    print(format_table(result))
    for path in result['files'].values():
        print(path)
    return result


if __name__ == '__main__':
    main()
