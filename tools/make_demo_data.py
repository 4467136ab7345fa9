#!/usr/bin/env python
"""Generate the embedded synthetic CI-SSOD demo dataset.

Example::

    python tools/make_demo_data.py --out data/demo
    python tools/make_demo_data.py --out /tmp/demo --seed 1 --force

Generates the dataset only when it is missing or was made with other
parameters (unless ``--force``) and prints the per-class statistics.
"""
import argparse
import sys
import time

from cissod_core.demo import synthetic_shapes as demo


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the synthetic long-tailed shapes demo dataset '
        '(COCO format) and its CI-SSOD labeled/unlabeled split.')
    parser.add_argument('--out', default='data/demo', help='output directory')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-train', type=int, default=2000)
    parser.add_argument('--num-val', type=int, default=500)
    parser.add_argument('--img-size', type=int, default=128)
    parser.add_argument(
        '--labeled-fraction', type=float, default=0.05,
        help='fraction of the train images in the majority-only labeled part')
    parser.add_argument(
        '--min-minority-boxes', type=int,
        default=demo.DEFAULT_MIN_MINORITY_BOXES,
        help='labeled boxes of every minority class (few-shot images)')
    parser.add_argument(
        '--tail-ratio', type=float, default=demo.TRAIN_TAIL_RATIO,
        help='train frequency ratio between consecutive classes')
    parser.add_argument(
        '--force', action='store_true',
        help='regenerate even if an up-to-date dataset exists')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    params = dict(seed=args.seed, num_train=args.num_train,
                  num_val=args.num_val, img_size=args.img_size,
                  labeled_fraction=args.labeled_fraction,
                  min_minority_boxes=args.min_minority_boxes,
                  tail_ratio=args.tail_ratio)
    up_to_date = (not args.force
                  and demo.is_demo_data_up_to_date(args.out, **params))
    t0 = time.time()
    meta = demo.ensure_demo_data(args.out, force=args.force, verbose=False,
                                 **params)
    if up_to_date:
        print(f'Demo dataset in {args.out} is up to date '
              f'(version {meta["version"]}, seed {meta["seed"]})')
    else:
        print(f'Generated demo dataset in {args.out} '
              f'({time.time() - t0:.1f}s)')
    print(f"classes: {meta['classes']}")
    print(f"majority: {meta['majority']}")
    print(f"minority: {meta['minority']}")
    print(demo.format_demo_stats(meta))
    return 0


if __name__ == '__main__':
    sys.exit(main())
