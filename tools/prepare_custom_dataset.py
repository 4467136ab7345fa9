"""Your own COCO data -> checked, with a ready config set (burn-in / Soft
Teacher / CISSOD).

    python tools/prepare_custom_dataset.py --name trees \\
        --labeled data/trees/labeled.json data/trees/images \\
        --unlabeled data/trees/unlabeled_images \\
        --val data/trees/val.json data/trees/images \\
        --out configs/custom/trees

``--unlabeled`` takes an image-only COCO file and its image directory, or a
plain folder of images (an image-only COCO file is then written to
``<out>/unlabeled.json``, the sizes read from the files). Every check of
``cissod_core.datasets.coco_checks`` runs first; the first problem stops the
command with its file, image id and fix.

Written to ``--out``: ``<name>_supervised.py`` (labeled-only burn-in /
baseline), ``<name>_soft-teacher.py``, ``<name>_cissod.py`` and
``dataset.md`` (class table, groups, thresholds, schedules, commands). The
configs inherit the model and schedule of a profile (``--model``):

* ``r50``: the CI-SSOD COCO configs (Faster R-CNN R50-caffe FPN with
  ImageNet weights, 8 GPUs x 5 images); the semi-supervised runs start from
  the ImageNet backbone, as in the paper.
* ``tiny``: the CPU demo's configs (a small ResNet-18 Faster R-CNN trained
  from scratch); the semi-supervised runs start from the burn-in's
  checkpoint.

Rules (docs/custom_dataset.md): majority classes hold ``--majority-share``
of the labeled boxes (most frequent first), the rest are minority; the
labeled RFS threshold is the smallest majority-class image frequency; the
schedules are the profile's scaled by how often the images are seen
(``cissod_core.datasets.schedule_scaling``).
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

from cissod_core.datasets import (
    CocoFileSummary,
    DataCheckError,
    ReferenceSchedule,
    check_coco_file,
    check_image_files,
    check_split,
    class_frequency_table,
    image_folder_to_coco,
    load_coco_json,
    rfs_threshold_for,
    scale_schedule,
    split_majority_minority,
)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

#: Profiles: parent configs, per-GPU batches, reference schedules.
PROFILES: Dict[str, Dict[str, Any]] = {
    'r50': dict(
        parents=dict(
            supervised='configs/ci-ssod/coco-split1/'
            'faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-split1_sup-rfs.py',
            soft_teacher='configs/ci-ssod/coco-split1/'
            'soft-teacher_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-'
            'split1.py',
            cissod='configs/ci-ssod/coco-split1/'
            'cissod_faster-rcnn_r50-caffe_fpn_180k_ci-ssod-coco-split1.py'),
        gpus=8, sup_batch=1, semi_batch=5, max_scale=(1333, 800),
        burn_in=False, lr_start=dict(sup=0.001, semi=0.001), num_workers=2,
        # COCO split1: ~11.8k labeled images (1 per GPU), ~106k unlabeled
        # (4 per GPU), 8 GPUs, 180k iterations, no LR step within them
        sup=ReferenceSchedule(
            images=11829, images_per_iter=8, max_iters=180000,
            val_interval=5000, checkpoint_interval=10000,
            lr_warmup_iters=500, lr_steps=(180000, )),
        semi=ReferenceSchedule(
            images=106458, images_per_iter=32, max_iters=180000,
            val_interval=5000, checkpoint_interval=10000,
            gbr_warmup_iters=8000, ssod_warmup_iters=12000,
            crs_interval=16000, lr_warmup_iters=500, lr_steps=(180000, ),
            labeled_images=11829, labeled_per_iter=8)),
    'tiny': dict(
        parents=dict(
            supervised='configs/demo/faster-rcnn_sup_demo.py',
            soft_teacher='configs/demo/cissod_demo_off.py',
            cissod='configs/demo/cissod_demo.py'),
        gpus=1, sup_batch=4, semi_batch=5, max_scale=(1333, 800),
        burn_in=True, lr_start=dict(sup=0.01, semi=0.1), num_workers=2,
        # the CPU demo: 129 labeled images (4 per iteration, 600 its),
        # 1,871 unlabeled (4 per iteration, 1,000 its)
        sup=ReferenceSchedule(
            images=129, images_per_iter=4, max_iters=600, val_interval=600,
            checkpoint_interval=600, lr_warmup_iters=100, lr_steps=(480, )),
        semi=ReferenceSchedule(
            images=1871, images_per_iter=4, max_iters=1000,
            val_interval=1000, checkpoint_interval=1000,
            gbr_warmup_iters=200, ssod_warmup_iters=300, crs_interval=200,
            lr_warmup_iters=50, labeled_images=129, labeled_per_iter=1)),
}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--name', required=True,
                   help='dataset name: config file and work dir prefix')
    p.add_argument('--labeled', nargs=2, required=True,
                   metavar=('JSON', 'IMG_DIR'),
                   help='labeled COCO file and its image directory')
    p.add_argument('--unlabeled', nargs='+', required=True,
                   metavar='JSON_OR_DIR',
                   help='image-only COCO file and its image directory, or '
                   'one folder of images')
    p.add_argument('--val', nargs=2, required=True,
                   metavar=('JSON', 'IMG_DIR'),
                   help='validation COCO file and its image directory')
    p.add_argument('--out', required=True, help='output directory')
    p.add_argument('--model', choices=sorted(PROFILES), default='r50',
                   help='profile: r50 (GPU, paper) or tiny (CPU demo)')
    p.add_argument('--gpus', type=int, default=None,
                   help='GPUs of the training (default: 8 for r50, 1 for '
                   'tiny); the schedules scale with it')
    p.add_argument('--scale', type=int, nargs=2, default=None,
                   metavar=('LONG', 'SHORT'),
                   help='test scale (long, short edge); default: the '
                   'median labeled image size, capped at 1333x800')
    p.add_argument('--majority', nargs='+', default=None,
                   help='majority class names (default: by --majority-'
                   'share); the other classes are minority')
    p.add_argument('--majority-share', type=float, default=0.9,
                   help='share of labeled boxes the majority classes hold')
    p.add_argument('--rfs-threshold', type=float, default=None,
                   help='labeled RFS threshold (default: the smallest '
                   'majority-class image frequency)')
    p.add_argument('--semi-iters', type=int, default=None,
                   help='fix the semi-supervised length (warm-ups and '
                   'intervals keep their fraction)')
    p.add_argument('--sup-iters', type=int, default=None,
                   help='fix the supervised length')
    p.add_argument('--num-workers', type=int, default=None,
                   help='dataloader workers per GPU')
    p.add_argument('--no-image-check', action='store_true',
                   help='only check that image files exist (no header '
                   'read: size and pixel format are not checked)')
    return p.parse_args(argv)


def _progress():
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with mmengine deps
        return None

    def wrap(iterable, desc, total):
        return tqdm(iterable, desc=desc, total=total, leave=False,
                    disable=total < 200, file=sys.stderr)

    return wrap


def load_and_check(args: argparse.Namespace
                   ) -> Tuple[Dict[str, CocoFileSummary], Optional[dict]]:
    """Check every file and image; returns the summaries by role and, for a
    folder of unlabeled images, the image-only COCO file to write."""
    progress = _progress()
    summaries: Dict[str, CocoFileSummary] = {}
    labeled = load_coco_json(args.labeled[0], 'labeled')
    summaries['labeled'] = check_coco_file(
        args.labeled[0], args.labeled[1], 'labeled', labeled, progress)
    unlabeled_json = None
    if len(args.unlabeled) == 1 and osp.isdir(args.unlabeled[0]):
        folder = args.unlabeled[0]
        unlabeled_json = image_folder_to_coco(
            folder, labeled['categories'], progress=progress)
        path = osp.join(args.out, 'unlabeled.json')
        summaries['unlabeled'] = check_coco_file(
            path, folder, 'unlabeled', unlabeled_json, progress)
    elif len(args.unlabeled) == 2:
        summaries['unlabeled'] = check_coco_file(
            args.unlabeled[0], args.unlabeled[1], 'unlabeled', None,
            progress)
    else:
        raise DataCheckError(
            f'--unlabeled {" ".join(args.unlabeled)}: pass an image-only '
            'COCO file and its image directory, or one existing folder of '
            'images.')
    summaries['val'] = check_coco_file(args.val[0], args.val[1], 'val', None,
                                       progress)
    for s in summaries.values():
        check_image_files(s, read_headers=not args.no_image_check,
                          progress=progress)
    check_split(list(summaries.values()))
    return summaries, unlabeled_json


def image_scales(labeled: CocoFileSummary, scale: Optional[Sequence[int]],
                 max_scale: Tuple[int, int]) -> Tuple[tuple, List[tuple]]:
    """``(test_scale, [train scale range])``: the median labeled image size
    (or ``scale``), capped at ``max_scale``; training resizes to a long edge
    of 1.25x and a short edge within 0.875x-1.125x of it (the demo's
    128 px -> (160, 112)-(160, 144))."""
    if scale is None:
        sizes = list(labeled.image_sizes.values())
        long = statistics.median(max(w, h) for w, h in sizes)
        short = statistics.median(min(w, h) for w, h in sizes)
        factor = min(1.0, max_scale[0] / long, max_scale[1] / short)
        scale = (round(long * factor), round(short * factor))
    long, short = int(scale[0]), int(scale[1])
    train = [(round(long * 1.25), round(short * 0.875)),
             (round(long * 1.25), round(short * 1.125))]
    return (long, short), train


def _rel(path: str, start: str) -> str:
    return osp.relpath(osp.abspath(path), osp.abspath(start))


def _param_scheduler(sched: ReferenceSchedule,
                     start_factor: float) -> List[dict]:
    out = []
    if sched.lr_warmup_iters:
        out.append(dict(type='LinearLR', start_factor=start_factor,
                        by_epoch=False, begin=0, end=sched.lr_warmup_iters))
    if sched.lr_steps:
        out.append(dict(type='MultiStepLR', begin=0, end=sched.max_iters,
                        by_epoch=False, milestones=list(sched.lr_steps),
                        gamma=0.1))
    return out


def _fmt(value: Any, indent: int = 0) -> str:
    """A config literal, ``dict(k=v)`` for dicts, packed into 79 columns
    (a nested literal that needs several lines starts its own line)."""
    if isinstance(value, dict):
        opening, closing = 'dict(', ')'
        inner = [f'{k}={_fmt(v, indent + 4)}' for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        opening, closing = ('[', ']') if isinstance(value, list) else \
            ('(', ',)' if len(value) == 1 else ')')
        inner = [_fmt(v, indent + 4) for v in value]
    else:
        return repr(value)
    one = opening + ', '.join(inner) + closing
    if len(one) + indent <= 75 and '\n' not in one:
        return one
    pad = ' ' * (indent + 4)
    lines, line = [], pad
    for item in inner:
        if '\n' in item or len(line) + len(item) + 2 > 79:
            if line.strip():
                lines.append(line.rstrip())
            line = pad
        line += item + ', '
        if '\n' in item:
            lines.append(line.rstrip())
            line = pad
    if line.strip():
        lines.append(line.rstrip())
    body = '\n'.join(lines)
    if closing == ')' and opening == 'dict(':
        return f'{opening}\n{body.rstrip(",")})'
    return f'{opening}\n{body}\n{" " * indent}{closing.lstrip(",")}'


def render_configs(args, summaries, profile, names, groups, rfs, scales,
                   sup, semi, unlabeled_ann) -> Dict[str, str]:
    """The three config files' text, by file name."""
    out = args.out
    lab, val = summaries['labeled'], summaries['val']
    data = dict(
        classes=tuple(names),
        class_groups=groups,
        labeled=dict(ann_file=osp.abspath(lab.path),
                     img_dir=osp.abspath(lab.img_dir) + os.sep),
        unlabeled=dict(ann_file=osp.abspath(unlabeled_ann),
                       img_dir=osp.abspath(summaries['unlabeled'].img_dir) +
                       os.sep),
        val=dict(ann_file=osp.abspath(val.path),
                 img_dir=osp.abspath(val.img_dir) + os.sep),
        test_scale=scales[0],
        train_scale=scales[1])
    n = len(names)
    workers = profile['num_workers'] if args.num_workers is None \
        else args.num_workers
    data_file = f'{args.name}_data.py'
    common = (
        'custom_data = _base_.custom_data\n'
        'val_dataloader = test_dataloader = custom_eval_loader(\n'
        f'    custom_data, num_workers={workers})\n'
        'val_evaluator = test_evaluator = custom_group_metric(custom_data)\n')

    def schedule(s: ReferenceSchedule, stage: str,
                 loop: Optional[str] = None) -> str:
        loop_kw = f"type='{loop}', " if loop else ''
        return (
            f'train_cfg = dict({loop_kw}max_iters={s.max_iters}, '
            f'val_interval={s.val_interval})\n'
            'param_scheduler = '
            f'{_fmt(_param_scheduler(s, profile["lr_start"][stage]))}\n'
            'default_hooks = dict(checkpoint=dict(by_epoch=False, '
            f'interval={s.checkpoint_interval}))\n')

    def header(kind: str, parent: str, loader: str) -> str:
        return (
            f'# {kind} on "{args.name}" ({n} classes), written by\n'
            '# tools/prepare_custom_dataset.py (docs/custom_dataset.md); '
            'edit freely.\n'
            f'# Model and method settings: {parent}\n'
            f"_base_ = ['{_rel(osp.join(REPO, parent), out)}',\n"
            f"          './{data_file}']\n"
            'from cissod.config_builders import (  # noqa: E402\n'
            f'    custom_eval_loader, custom_group_metric, {loader})\n\n')

    files = {data_file: (
        f'# Dataset "{args.name}" of the configs beside this file\n'
        '# (written by tools/prepare_custom_dataset.py).\n'
        f'# Groups and scales: {out}/dataset.md\n'
        f'custom_data = {_fmt(data)}\n')}
    parents = profile['parents']
    sup_name = f'{args.name}_supervised'
    files[f'{sup_name}.py'] = (
        header('Supervised burn-in (labeled images only)',
               parents['supervised'], 'custom_labeled_loader') + common +
        f'train_dataloader = custom_labeled_loader(\n'
        f'    custom_data, batch_size={profile["sup_batch"]}, '
        f'labeled_rfs_threshold={rfs:.4g}, num_workers={workers})\n'
        f'model = dict(roi_head=dict(bbox_head=dict(num_classes={n})))\n' +
        schedule(sup, 'sup', 'IterBasedTrainLoop') +
        f"work_dir = 'work_dirs/{sup_name}'\n")
    load_from = (f"load_from = 'work_dirs/{sup_name}/iter_{sup.max_iters}.pth'"
                 '  # the burn-in\n' if profile['burn_in'] else '')
    semi_loader = (
        'train_dataloader = custom_semi_loader(\n'
        "    custom_data, sampler='{sampler}', "
        f'batch_size={profile["semi_batch"]},\n'
        '    {rfs}num_workers=' + f'{workers})\n')
    st_name = f'{args.name}_soft-teacher'
    files[f'{st_name}.py'] = (
        header('Soft Teacher', parents['soft_teacher'],
               'custom_semi_loader') + common +
        semi_loader.format(sampler='GroupMultiSourceSampler', rfs='') +
        'model = dict(detector=dict(roi_head=dict(bbox_head=dict(\n'
        f'    num_classes={n}))))\n' + schedule(semi, 'semi') + load_from +
        f"work_dir = 'work_dirs/{st_name}'\n")
    hooks = _cissod_hooks(parents['cissod'], semi.crs_interval)
    ci_name = f'{args.name}_cissod'
    files[f'{ci_name}.py'] = (
        header('CISSOD (GbR + GbT + CrS)', parents['cissod'],
               'custom_semi_loader') + common +
        semi_loader.format(sampler='ClassRebalancingMultiSourceSampler',
                           rfs=f'labeled_rfs_threshold={rfs:.4g}, ') +
        'model = dict(\n'
        '    detector=dict(roi_head=dict(bbox_head=dict(\n'
        f'        num_classes={n},\n'
        f'        loss_cls=dict(num_classes={n}, '
        f'warmup_iters={semi.gbr_warmup_iters})))),\n'
        f'    cissod_cfg=dict(ssod_warmup_iters={semi.ssod_warmup_iters}))\n'
        + schedule(semi, 'semi') + f'custom_hooks = {_fmt(hooks)}\n' +
        load_from + f"work_dir = 'work_dirs/{ci_name}'\n")
    return files


def _cissod_hooks(parent: str, crs_interval: int) -> List[dict]:
    """The parent's custom hooks with the scaled CrS interval."""
    from mmengine.config import Config
    hooks = [dict(h) for h in Config.fromfile(osp.join(REPO,
                                                       parent)).custom_hooks]
    for h in hooks:
        if h['type'] == 'ClassRebalancingHook':
            h['interval'] = crs_interval
    return hooks


def dataset_report(args, summaries, groups, rfs, scales, sup, semi,
                   files) -> str:
    lab = summaries['labeled']
    group_of = {c: g for g, cs in groups.items() for c in cs}
    val_counts = summaries['val'].box_counts
    lines = [
        f'# Dataset "{args.name}"', '',
        '| role | file | images | boxes |', '|---|---|---:|---:|'
    ]
    for s in summaries.values():
        lines.append(f'| {s.role} | {s.path} | {len(s.images)} | '
                     f'{s.num_annotations} |')
    lines += [
        '', 'Labeled classes (most boxes first):', '',
        '| class | group | labeled boxes | labeled images | image '
        'frequency | val boxes |', '|---|---|---:|---:|---:|---:|'
    ]
    for row in class_frequency_table(lab):
        lines.append(
            f'| {row["cls"]} | {group_of[row["cls"]]} | {row["boxes"]} | '
            f'{row["images"]} | {row["image_frequency"]:.3f} | '
            f'{val_counts.get(row["cls"], 0)} |')
    notes = [n for s in summaries.values() for n in s.notes]
    lines += [
        '', f'- labeled RFS threshold: {rfs:.4g}',
        f'- test scale {scales[0]}, train scale range {scales[1]}',
        f'- supervised: {sup.max_iters} iterations (val every '
        f'{sup.val_interval}, LR steps {list(sup.lr_steps)})',
        f'- semi-supervised: {semi.max_iters} iterations, GbR warm-up '
        f'{semi.gbr_warmup_iters}, SSOD warm-up {semi.ssod_warmup_iters}, '
        f'CrS interval {semi.crs_interval} (val every {semi.val_interval})',
    ] + [f'- note: {n}' for n in notes] + ['', 'Train and evaluate:', '',
                                           '```']
    runs = [n for n in files if not n.endswith('_data.py')]
    for name in runs:
        lines.append(f'python tools/train.py {osp.join(args.out, name)}')
    last = {n: (semi if 'supervised' not in n else sup).max_iters
            for n in runs}
    for name in runs:
        stem = osp.splitext(name)[0]
        lines.append(f'python tools/test.py {osp.join(args.out, name)} '
                     f'work_dirs/{stem}/iter_{last[name]}.pth')
    lines += ['```', '']
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    profile = PROFILES[args.model]
    try:
        summaries, unlabeled_json = load_and_check(args)
    except DataCheckError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    lab = summaries['labeled']
    names = lab.class_names
    if args.majority is not None:
        unknown = [c for c in args.majority if c not in names]
        if unknown:
            print(f'error: --majority names unknown classes {unknown}; the '
                  f'classes are {names}', file=sys.stderr)
            return 2
        majority = list(args.majority)
        minority = [c for c in names if c not in majority]
    else:
        majority, minority = split_majority_minority(lab.box_counts,
                                                     args.majority_share)
    groups = dict(majority=majority, minority=minority)
    freq = {r['cls']: r['image_frequency']
            for r in class_frequency_table(lab)}
    rfs = args.rfs_threshold if args.rfs_threshold is not None else \
        rfs_threshold_for(freq, majority)
    scales = image_scales(lab, args.scale, profile['max_scale'])
    gpus = args.gpus or profile['gpus']
    sup = scale_schedule(profile['sup'], len(lab.images),
                         gpus * profile['sup_batch'], args.sup_iters)
    ratio_unsup = profile['semi_batch'] - 1  # 1 labeled : 4 unlabeled
    semi = scale_schedule(profile['semi'], len(summaries['unlabeled'].images),
                          gpus * ratio_unsup, args.semi_iters,
                          labeled_images=len(lab.images),
                          labeled_per_iter=gpus)
    os.makedirs(args.out, exist_ok=True)
    unlabeled_ann = summaries['unlabeled'].path
    if unlabeled_json is not None:
        with open(unlabeled_ann, 'w') as f:
            json.dump(unlabeled_json, f)
        print(f'wrote {unlabeled_ann} ({len(unlabeled_json["images"])} '
              'images)')
    files = render_configs(args, summaries, profile, names, groups, rfs,
                           scales, sup, semi, unlabeled_ann)
    for name, text in files.items():
        with open(osp.join(args.out, name), 'w') as f:
            f.write(text)
    report = dataset_report(args, summaries, groups, rfs, scales, sup, semi,
                            files)
    with open(osp.join(args.out, 'dataset.md'), 'w') as f:
        f.write(report)
    print(report)
    print(f'wrote {", ".join(files)} and dataset.md to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
