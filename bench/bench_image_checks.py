"""Cost of the image-file checks run before training (``check_image_files``).

Usage::

    .venv/bin/python bench/bench_image_checks.py [--images 118287]
        [--demo data/demo]

Measures, in one run, the two levels of
:func:`cissod_core.datasets.check_image_files`:

* ``read_headers=False``: one ``stat`` per image (exists, non-empty);
* ``read_headers=True``: also Pillow's header read (format, size, mode; no
  pixel is decoded);

(a) on the demo data's annotation files (``make data``), and (b) on
``--images`` synthetic files (COCO train2017 has 118,287): small JPEGs of
varying size written to a temporary folder, so the header read parses a
real JPEG header. Both passes run on a warm page cache (the files were just
written or read); a cold cache adds the disk's latency per file to both.

The stdout of a run is what ``bench/results_image_checks.txt`` holds.
"""
import argparse
import os
import os.path as osp
import platform
import tempfile
import time
from typing import Dict, Tuple

from PIL import Image

from cissod_core.datasets.coco_checks import (
    CocoFileSummary,
    check_coco_file,
    check_image_files,
)


def _time(summary: CocoFileSummary, read_headers: bool) -> float:
    start = time.perf_counter()
    check_image_files(summary, read_headers=read_headers)
    return time.perf_counter() - start


def _report(name: str, summary: CocoFileSummary) -> None:
    n = len(summary.images)
    _time(summary, True)  # warm the page cache and Pillow's plugins
    stat = min(_time(summary, False) for _ in range(3))
    header = min(_time(summary, True) for _ in range(3))
    print(f'{name}: {n:,} images')
    print(f'    stat only (exists, non-empty): {stat:8.3f} s  '
          f'= {stat / n * 1e4:6.3f} s per 10,000 images')
    print(f'    + header read (format, size):  {header:8.3f} s  '
          f'= {header / n * 1e4:6.3f} s per 10,000 images')


def _synthetic(root: str, num: int) -> CocoFileSummary:
    images: Dict[int, str] = {}
    sizes: Dict[int, Tuple[int, int]] = {}
    encoded = {}
    for i in range(num):
        size = (64 + (i % 7) * 8, 48 + (i % 5) * 8)
        if size not in encoded:
            path = osp.join(root, 'template.jpg')
            Image.new('RGB', size, (i % 255, 80, 160)).save(path, quality=90)
            with open(path, 'rb') as f:
                encoded[size] = f.read()
        name = f'{i // 1000:03d}/{i:012d}.jpg'
        if i % 1000 == 0:
            os.makedirs(osp.join(root, name.split('/')[0]), exist_ok=True)
        with open(osp.join(root, name), 'wb') as f:
            f.write(encoded[size])
        images[i] = name
        sizes[i] = size
    return CocoFileSummary(
        path='synthetic', role='train', img_dir=root, categories=[],
        images=images, image_sizes=sizes, box_counts={}, image_counts={},
        num_annotations=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=118287)
    parser.add_argument('--demo', default='data/demo')
    args = parser.parse_args()
    print(f'image-check benchmark: {os.cpu_count()} CPUs '
          f'({platform.machine()}), load average '
          f'{os.getloadavg()[0]:.2f}')
    # the demo's files (cissod_core.demo): train_*.json -> images/train
    for name, img_dir in (('train_labeled', 'train'),
                          ('train_unlabeled', 'train'), ('val', 'val')):
        ann = osp.join(args.demo, 'annotations', f'{name}.json')
        if osp.isfile(ann):
            summary = check_coco_file(
                ann, osp.join(args.demo, 'images', img_dir), name)
            _report(f'(a) demo {name}', summary)
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        summary = _synthetic(root, args.images)
        print(f'(b) synthetic JPEGs written in '
              f'{time.perf_counter() - start:.1f} s')
        _report('(b) synthetic', summary)


if __name__ == '__main__':
    main()
