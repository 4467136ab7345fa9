#!/usr/bin/env python
"""Build (or check) the CI-SSOD benchmark splits from the public annotations.

Examples::

    # COCO split1 / split2 (minority = VOC classes / the benchmark's 40)
    python tools/make_splits.py coco-split1 \\
        --ann data/coco/annotations/instances_train2017.json \\
        --out-dir data/coco/annotations/ci-ssod --seed 1
    python tools/make_splits.py coco-split2 --ann ... --out-dir ...

    # COCO -> Objects365 (the class mapping is data/coco_to_objects365.json)
    python tools/make_splits.py coco2o365 \\
        --coco-ann data/coco/annotations/instances_train2017.json \\
        --o365-ann data/objects365/annotations/zhiyuan_objv2_train.json \\
        --num-o365-labeled N --out-dir data/coco2o365/annotations
    # (re)derive the class mapping from the two files and write it
    python tools/make_splits.py coco2o365 --coco-ann ... --o365-ann ... \\
        --write-mapping --mapping-only

    # LVIS v1 (9,946 labeled images)
    python tools/make_splits.py lvis \\
        --ann data/lvis/annotations/lvis_v1_train.json \\
        --out-dir data/lvis/annotations

    # check split files made elsewhere (e.g. the authors' released ones)
    python tools/make_splits.py validate --labeled L.json --unlabeled U.json \\
        [--full instances_train2017.json] [--minority split1]

Every build writes ``<name>_labeled.json``, ``<name>_unlabeled.json``
(``annotations: []``), ``<name>_unlabeled_gt.json`` (true boxes of the
unlabeled images, for analysis only) and ``<name>_stats.json`` into
``--out-dir`` and prints the per-class statistics. ``<name>`` defaults to
``split1``, ``split2``, ``coco2o365``, ``lvis_v1_train`` (the names the
configs in configs/_base_/datasets/ci-ssod_*.py read); the seed is recorded
in the stats file, pass ``--name`` to keep splits of several seeds.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
from typing import Any, Dict, List, Optional

from cissod_core import splits as split_builders

DOWNLOAD_HINTS = {
    'coco': 'COCO 2017 annotations: annotations_trainval2017.zip from '
            'https://cocodataset.org/#download (instances_train2017.json)',
    'o365': 'Objects365 v2 annotations: https://www.objects365.org/ '
            '(Download; train annotation file zhiyuan_objv2_train.json)',
    'lvis': 'LVIS v1 annotations: https://www.lvisdataset.org/dataset '
            '(lvis_v1_train.json.zip)',
    'split': 'the split files you want to check',
}


class CLIError(Exception):
    """A user error: printed as ``error: ...`` with exit code 2."""


def _tqdm(quiet: bool):
    """``progress(iterable, desc)`` wrapper (tqdm if available)."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None

    def progress(it, desc):
        if quiet or tqdm is None:
            return it
        return tqdm(it, desc=desc, unit='it', leave=False, mininterval=0.5,
                    file=sys.stderr)

    return progress


def load_json(path: str, kind: str, quiet: bool = False) -> Dict[str, Any]:
    """Load an annotation json with a byte progress bar."""
    if not osp.isfile(path):
        raise CLIError(f'annotation file not found: {path}\n'
                       f'  get it from {DOWNLOAD_HINTS[kind]}')
    size = os.path.getsize(path)
    buf = bytearray(size)
    view = memoryview(buf)
    bar = None
    if not quiet:
        try:
            from tqdm import tqdm
            bar = tqdm(total=size, unit='B', unit_scale=True,
                       desc=f'load {osp.basename(path)}', leave=False,
                       file=sys.stderr, mininterval=0.5)
        except ImportError:  # pragma: no cover
            bar = None
    pos = 0
    with open(path, 'rb') as f:
        while pos < size:
            n = f.readinto(view[pos:pos + (64 << 20)])
            if not n:
                break
            pos += n
            if bar is not None:
                bar.update(n)
    if bar is not None:
        bar.close()
    del view
    try:
        data = json.loads(bytes(buf[:pos]) if pos != size else buf)
    except ValueError as e:
        raise CLIError(f'{path} is not valid json: {e}') from None
    for key in ('images', 'annotations', 'categories'):
        if key not in data:
            raise CLIError(f'{path} has no {key!r} key: not a COCO/LVIS-'
                           f'format annotation file ({DOWNLOAD_HINTS[kind]})')
    return data


def write_json(obj: Any, path: str) -> None:
    """Deterministic compact json (same input, same bytes)."""
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, separators=(',', ':'))
    os.replace(tmp, path)


def write_split(out_dir: str, name: str, labeled, unlabeled, unlabeled_gt,
                stats, quiet: bool) -> List[str]:
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for suffix, obj in [('labeled', labeled), ('unlabeled', unlabeled),
                        ('unlabeled_gt', unlabeled_gt), ('stats', stats)]:
        path = osp.join(out_dir, f'{name}_{suffix}.json')
        write_json(obj, path)
        paths.append(path)
    if not quiet:
        print('wrote:\n' + '\n'.join(f'  {p}' for p in paths))
    return paths


def _check_names(names, data, what: str) -> None:
    available = {c['name'] for c in data['categories']}
    unknown = [n for n in names if n not in available]
    if unknown:
        raise CLIError(
            f'class name(s) not in the {what} categories: {unknown}\n'
            f'  available: {sorted(available)}')


# ---------------------------------------------------------------------------
# sub-commands
# ---------------------------------------------------------------------------
def cmd_coco(args, sp) -> int:
    split = args.command.split('-')[1]  # coco-split1 -> split1
    coco = load_json(args.ann, 'coco', args.quiet)
    _check_names(sp.COCO_SPLITS[split], coco, 'COCO')
    t0 = time.time()
    print(f'building COCO {split} (seed {args.seed}) ...', file=sys.stderr)
    try:
        out = sp.build_coco_split(
            coco, split, seed=args.seed,
            labeled_fraction=args.labeled_fraction,
            min_minority_boxes=args.min_minority_boxes)
    except ValueError as e:
        raise CLIError(str(e)) from None
    name = args.name or split
    print(f'COCO {split}: minority = {list(sp.COCO_SPLITS[split])}')
    print(sp.format_split_stats(out[3]))
    print(f'built in {time.time() - t0:.1f}s')
    write_split(args.out_dir, name, *out, quiet=args.quiet)
    return 0


def cmd_coco2o365(args, sp) -> int:
    coco = load_json(args.coco_ann, 'coco', args.quiet)
    o365 = load_json(args.o365_ann, 'o365', args.quiet)
    mapping_path = args.mapping or sp.DEFAULT_COCO_TO_O365_FILE
    if args.write_mapping:
        coco_names = [c['name'] for c in
                      sorted(coco['categories'], key=lambda c: c['id'])]
        o365_names = [c['name'] for c in
                      sorted(o365['categories'], key=lambda c: c['id'])]
        names, how = sp.derive_coco_to_o365_names(coco_names, o365_names)
        problems = {n: h for n, h in how.items()
                    if h in ('alias not found', 'no match')
                    or h.startswith('ambiguous')}
        os.makedirs(osp.dirname(osp.abspath(mapping_path)), exist_ok=True)
        with open(mapping_path, 'w') as f:
            json.dump(names, f, indent=2)
            f.write('\n')
        print(f'wrote the class mapping to {mapping_path}')
        if problems:
            print('WARNING: COCO classes without a counterpart that were not '
                  f'expected to lack one (check them): {problems}')
        name_mapping = None  # derive again: the report then says how
    else:
        if not osp.isfile(mapping_path):
            raise CLIError(f'mapping file not found: {mapping_path} (create '
                           'it with --write-mapping)')
        try:
            name_mapping = sp.load_coco_to_o365_names(mapping_path)
        except ValueError as e:
            raise CLIError(str(e)) from None
    try:
        mapping, unmatched, report = sp.build_coco_to_o365_mapping(
            coco['categories'], o365['categories'], name_mapping)
    except ValueError as e:
        raise CLIError(f'{e}\n  (mapping file: {mapping_path})') from None
    print(report)
    if args.mapping_only:
        return 0
    if args.num_o365_labeled is None:
        raise CLIError('--num-o365-labeled is required to build the split')
    t0 = time.time()
    try:
        out = sp.build_coco2o365_split(
            coco, o365, mapping, args.num_o365_labeled, seed=args.seed,
            coco_img_prefix=args.coco_img_prefix,
            o365_img_prefix=args.o365_img_prefix,
            coco_id_offset=args.coco_id_offset,
            progress=_tqdm(args.quiet))
    except ValueError as e:
        raise CLIError(str(e)) from None
    stats = out[3]
    print(sp.format_split_stats(stats, extra_columns={
        'coco_boxes': {n: r['coco_boxes']
                       for n, r in stats['per_class'].items()},
        'o365_boxes': {n: r['o365_boxes']
                       for n, r in stats['per_class'].items()}}))
    print(f"majority classes: {stats['num_majority_classes']}, minority "
          f"classes: {stats['num_minority_classes']}; COCO image/annotation "
          f"id offset: {stats['coco_id_offset']}")
    print(f"dropped COCO boxes of unmapped classes: "
          f"{stats['dropped_coco_boxes']}")
    print(f'built in {time.time() - t0:.1f}s')
    name = args.name or 'coco2o365'
    write_split(args.out_dir, name, *out, quiet=args.quiet)
    return 0


def cmd_lvis(args, sp) -> int:
    lvis = load_json(args.ann, 'lvis', args.quiet)
    no_freq = [c['name'] for c in lvis['categories'] if 'frequency' not in c]
    if no_freq:
        raise CLIError(f'{len(no_freq)} categories have no "frequency" field '
                       f'(e.g. {no_freq[:5]}): is {args.ann} an LVIS v1 file?')
    t0 = time.time()
    try:
        out = sp.build_lvis_split(lvis, num_labeled=args.num_labeled,
                                  seed=args.seed,
                                  labeled_fraction=args.labeled_fraction,
                                  progress=_tqdm(args.quiet))
    except ValueError as e:
        raise CLIError(str(e)) from None
    stats = out[3]
    print(sp.format_split_stats(stats))
    for group, s in stats['frequency_summary'].items():
        print(f'{group}: {s}')
    print(f'built in {time.time() - t0:.1f}s')
    name = args.name or 'lvis_v1_train'
    write_split(args.out_dir, name, *out, quiet=args.quiet)
    return 0


def cmd_validate(args, sp) -> int:
    labeled = load_json(args.labeled, 'split', args.quiet)
    unlabeled = load_json(args.unlabeled, 'split', args.quiet)
    full = load_json(args.full, 'coco', args.quiet) if args.full else None
    minority: Optional[List[str]] = None
    if args.minority:
        if args.minority in sp.COCO_SPLITS:
            minority = list(sp.COCO_SPLITS[args.minority])
        else:
            minority = [n.strip() for n in args.minority.split(',')
                        if n.strip()]
        _check_names(minority, labeled, 'labeled file')
    try:
        stats = sp.validate_split(labeled, unlabeled, full, minority,
                                  min_minority_boxes=args.min_minority_boxes)
    except ValueError as e:
        raise CLIError(f'invalid split: {e}') from None
    print(sp.format_split_stats(stats))
    print(f"unlabeled boxes counted from: {stats['unlabeled_boxes_source']}")
    for group, s in stats.get('frequency_summary', {}).items():
        print(f'{group}: {s}')
    for w in stats['warnings']:
        print(f'WARNING: {w}')
    if args.stats_out:
        write_json(stats, args.stats_out)
        print(f'wrote {args.stats_out}')
    print('split OK')
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description='Build the CI-SSOD benchmark splits (COCO split1/split2, '
        'COCO->Objects365, LVIS v1) from the public annotation files, or '
        'validate existing split files. Deterministic: same seed, same '
        'bytes.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    sub = parser.add_subparsers(dest='command', required=True)

    def common(p, name_default):
        p.add_argument('--out-dir', required=True,
                       help='directory for the output json files')
        p.add_argument('--seed', type=int, default=1, help='(default: 1)')
        p.add_argument('--name', default=None,
                       help=f'file name prefix (default: {name_default})')
        p.add_argument('--quiet', action='store_true',
                       help='no progress bars')

    for split in ('split1', 'split2'):
        p = sub.add_parser(
            f'coco-{split}', help=f'COCO {split}',
            description=f'COCO {split}: 10%% majority-only labeled sample '
            'plus few-shot images until every minority class has '
            '--min-minority-boxes boxes; unlabeled = every other image.')
        p.add_argument('--ann', required=True,
                       help='COCO instances_train2017.json')
        p.add_argument('--labeled-fraction', type=float, default=0.1)
        p.add_argument('--min-minority-boxes', type=int, default=10)
        common(p, split)
        p.set_defaults(func=cmd_coco)

    p = sub.add_parser(
        'coco2o365', help='COCO -> Objects365',
        description='labeled = all of COCO train2017 relabelled into the '
        'Objects365 classes + --num-o365-labeled Objects365 train images; '
        'unlabeled = the rest of Objects365 train.')
    p.add_argument('--coco-ann', required=True,
                   help='COCO instances_train2017.json')
    p.add_argument('--o365-ann', required=True,
                   help='Objects365 v2 train annotations '
                   '(zhiyuan_objv2_train.json)')
    p.add_argument('--num-o365-labeled', type=int, default=None,
                   help='number of fully labelled Objects365 images')
    p.add_argument('--mapping', default=None,
                   help='COCO->Objects365 class name mapping json (default: '
                   'data/coco_to_objects365.json)')
    p.add_argument('--write-mapping', action='store_true',
                   help='derive the mapping from the two files and write it '
                   'to --mapping')
    p.add_argument('--mapping-only', action='store_true',
                   help='only print (and with --write-mapping write) the '
                   'class mapping')
    p.add_argument('--coco-img-prefix', default='train2017/',
                   help='prefix of COCO file_name (default: %(default)s; '
                   'Objects365V2Dataset keeps only the last directory of '
                   'file_name, see build_coco2o365_split)')
    p.add_argument('--o365-img-prefix', default='',
                   help='prefix of Objects365 file_name (default: none)')
    p.add_argument('--coco-id-offset', type=int, default=None,
                   help='offset of the COCO image/annotation ids (default: '
                   'smallest power of 10 above the Objects365 ids)')
    p.add_argument('--out-dir', default=None,
                   help='directory for the output json files')
    p.add_argument('--seed', type=int, default=1, help='(default: 1)')
    p.add_argument('--name', default=None,
                   help='file name prefix (default: coco2o365)')
    p.add_argument('--quiet', action='store_true', help='no progress bars')
    p.set_defaults(func=cmd_coco2o365)

    p = sub.add_parser('lvis', help='LVIS v1',
                       description='labeled = --num-labeled seeded-random '
                       'LVIS v1 train images with all boxes; unlabeled = '
                       'the rest.')
    p.add_argument('--ann', required=True, help='LVIS lvis_v1_train.json')
    p.add_argument('--num-labeled', type=int, default=9946,
                   help='(default: %(default)s, as in the paper)')
    p.add_argument('--labeled-fraction', type=float, default=None,
                   help='overrides --num-labeled')
    common(p, 'lvis_v1_train')
    p.set_defaults(func=cmd_lvis)

    p = sub.add_parser(
        'validate', help='check existing split files',
        description='Check that labeled/unlabeled are disjoint, share the '
        'categories and (with --full) cover the full set; print per-class '
        'statistics.')
    p.add_argument('--labeled', required=True)
    p.add_argument('--unlabeled', required=True)
    p.add_argument('--full', default=None,
                   help='the full annotation file the split was made from')
    p.add_argument('--minority', default=None,
                   help="'split1', 'split2', or comma-separated class names "
                   '(default: LVIS frequency groups if present)')
    p.add_argument('--min-minority-boxes', type=int, default=10)
    p.add_argument('--stats-out', default=None,
                   help='write the statistics to this json file')
    p.add_argument('--quiet', action='store_true', help='no progress bars')
    p.set_defaults(func=cmd_validate)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == 'coco2o365' and not args.mapping_only \
            and args.out_dir is None:
        parser.error('coco2o365: --out-dir is required unless --mapping-only')
    sp = split_builders
    try:
        return args.func(args, sp)
    except CLIError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
