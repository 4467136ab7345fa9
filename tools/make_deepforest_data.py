"""A real-image detection set from the ``deepforest`` PyPI package.

``deepforest`` (MIT licence; installed by ``tools/install.sh`` without its
dependencies, for its data only) ships NEON airborne RGB images (10 cm per
pixel) with hand-drawn tree-crown boxes in Pascal VOC files: three images
of live trees ("Tree", 914 boxes) and one image whose trees are labelled
"Alive" (9) or "Dead" (28), plus one unannotated image. This command turns
them into a 2-class, badly imbalanced set for the custom-dataset path
(docs/custom_dataset.md):

* classes ``Tree`` (``Tree`` + ``Alive``) and ``Dead``;
* every image cut into ``--tile`` px tiles (boxes clipped to the tile, kept
  when at least half of the box lies in it;
  ``cissod_core.datasets.tiling``);
* the tiles of each image split at random (``--seed``) into labeled (35%),
  val (30%) and unlabeled (the rest, and every tile of the unannotated
  image): ``annotations/labeled.json`` + ``images/labeled/``,
  ``annotations/val.json`` + ``images/val/``, and a plain folder
  ``images/unlabeled/`` (its true boxes in ``annotations/unlabeled_gt.json``
  for analysis only).

    python tools/make_deepforest_data.py --out data/deepforest
"""
import argparse
import importlib.util
import json
import math
import os
import os.path as osp
import sys
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from cissod_core.datasets.tiling import boxes_in_window, tile_windows

CLASSES = ('Tree', 'Dead')
#: deepforest label -> our class
LABEL_MAP = {'Tree': 'Tree', 'Alive': 'Tree', 'Dead': 'Dead'}
#: (image, VOC file or None for an unannotated image)
SOURCES: Tuple[Tuple[str, Optional[str]], ...] = (
    ('2019_YELL_2_528000_4978000_image_crop2.png',
     '2019_YELL_2_528000_4978000_image_crop2.xml'),
    ('2019_YELL_2_541000_4977000_image_crop.png',
     '2019_YELL_2_541000_4977000_image_crop.xml'),
    ('OSBS_029.png', 'OSBS_029.xml'),
    ('SOAP_061.png', 'SOAP_061.xml'),
    ('SOAP_031.png', None),
)
FRACTIONS = dict(labeled=0.35, val=0.30)


def deepforest_data_dir() -> str:
    """``deepforest/data`` of the installed package, without importing it
    (its dependencies are not installed)."""
    spec = importlib.util.find_spec('deepforest')
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            'the deepforest package is not installed: run `bash '
            'tools/install.sh` (or `pip install --no-deps deepforest==2.1.0`'
            ') and try again.')
    path = osp.join(list(spec.submodule_search_locations)[0], 'data')
    missing = [s for s, _ in SOURCES if not osp.isfile(osp.join(path, s))]
    if missing:
        raise FileNotFoundError(
            f'{path} lacks {missing}: install deepforest==2.1.0.')
    return path


def read_voc(path: str) -> Tuple[np.ndarray, List[str]]:
    """``(boxes (N, 4) x1 y1 x2 y2, labels)`` of a Pascal VOC file."""
    root = ET.parse(path).getroot()
    boxes, labels = [], []
    for obj in root.iter('object'):
        bb = obj.find('bndbox')
        boxes.append([float(bb.find(k).text)
                      for k in ('xmin', 'ymin', 'xmax', 'ymax')])
        labels.append(obj.find('name').text)
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), labels


def split_counts(n: int) -> Dict[str, int]:
    """Tiles per split for an annotated image of ``n`` tiles (at least one
    labeled and one val tile when ``n >= 3``)."""
    labeled = min(n, max(1, math.ceil(n * FRACTIONS['labeled'])))
    val = min(n - labeled, max(1, round(n * FRACTIONS['val'])))
    return dict(labeled=labeled, val=val, unlabeled=n - labeled - val)


def build(out: str, tile: int = 200, seed: int = 0) -> Dict[str, dict]:
    """Write the tiles and COCO files; returns the COCO dicts by split."""
    from PIL import Image
    Image.MAX_IMAGE_PIXELS = None
    src = deepforest_data_dir()
    rng = np.random.default_rng(seed)
    cats = [dict(id=i + 1, name=n) for i, n in enumerate(CLASSES)]
    cat_id = {c['name']: c['id'] for c in cats}
    coco = {s: dict(images=[], annotations=[], categories=cats)
            for s in ('labeled', 'val', 'unlabeled_gt')}
    for split in ('labeled', 'val', 'unlabeled'):
        os.makedirs(osp.join(out, 'images', split), exist_ok=True)
    os.makedirs(osp.join(out, 'annotations'), exist_ok=True)
    next_img = next_ann = 1
    for image_name, voc in SOURCES:
        image = Image.open(osp.join(src, image_name)).convert('RGB')
        boxes, labels = (read_voc(osp.join(src, voc)) if voc else
                         (np.zeros((0, 4)), []))
        windows = tile_windows(image.width, image.height, tile)
        order = rng.permutation(len(windows))
        if voc:
            counts = split_counts(len(windows))
            splits = (['labeled'] * counts['labeled'] +
                      ['val'] * counts['val'] +
                      ['unlabeled'] * counts['unlabeled'])
        else:
            splits = ['unlabeled'] * len(windows)
        stem = osp.splitext(image_name)[0]
        for rank, w_idx in enumerate(order):
            window = windows[w_idx]
            split = splits[rank]
            name = f'{stem}_{window[0]}_{window[1]}.png'
            image.crop(window).save(osp.join(out, 'images', split, name))
            key = 'unlabeled_gt' if split == 'unlabeled' else split
            img = dict(id=next_img, file_name=name,
                       width=window[2] - window[0],
                       height=window[3] - window[1])
            coco[key]['images'].append(img)
            kept, idx = boxes_in_window(boxes, window)
            for (x1, y1, x2, y2), i in zip(kept.tolist(), idx.tolist()):
                coco[key]['annotations'].append(dict(
                    id=next_ann, image_id=next_img,
                    category_id=cat_id[LABEL_MAP[labels[i]]],
                    bbox=[round(x1, 2), round(y1, 2), round(x2 - x1, 2),
                          round(y2 - y1, 2)],
                    area=round((x2 - x1) * (y2 - y1), 2), iscrowd=0))
                next_ann += 1
            next_img += 1
    for key, data in coco.items():
        with open(osp.join(out, 'annotations', f'{key}.json'), 'w') as f:
            json.dump(data, f)
    return coco


def summary(coco: Dict[str, dict]) -> str:
    lines = ['| split | tiles | ' + ' | '.join(CLASSES) + ' |',
             '|---|---:|' + '---:|' * len(CLASSES)]
    for key, data in coco.items():
        counts = {c['id']: 0 for c in data['categories']}
        for a in data['annotations']:
            counts[a['category_id']] += 1
        lines.append(f'| {key} | {len(data["images"])} | ' +
                     ' | '.join(str(counts[i + 1])
                                for i in range(len(CLASSES))) + ' |')
    return '\n'.join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default='data/deepforest')
    p.add_argument('--tile', type=int, default=200, help='tile size (px)')
    p.add_argument('--seed', type=int, default=0, help='split seed')
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    coco = build(args.out, args.tile, args.seed)
    print(summary(coco))
    print(f'written to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
