"""Tests of the CI-SSOD benchmark split builders and tools/make_splits.py.

The fixtures are small seeded annotation files shaped like COCO train2017
(80 real class names and ids, long-tailed), Objects365 v2 (365 classes: the
mapping's targets plus fillers) and LVIS v1 (r/c/f frequencies), generated
here; nothing is downloaded.
"""
import ast
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

from cissod_core.splits import (
    COCO_CLASSES,
    COCO_SPLIT1_MINORITY,
    COCO_SPLIT2_MINORITY,
    DEFAULT_COCO_TO_O365_FILE,
    build_coco2o365_split,
    build_coco_split,
    build_coco_to_o365_mapping,
    build_lvis_split,
    derive_coco_to_o365_names,
    format_split_stats,
    load_coco_to_o365_names,
    validate_split,
)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
PYTHON = osp.join(REPO, '.venv', 'bin', 'python')
if not osp.exists(PYTHON):
    PYTHON = sys.executable
TOOL = osp.join(REPO, 'tools', 'make_splits.py')
COCO_IDS = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21,
    22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42,
    43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61,
    62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
    85, 86, 87, 88, 89, 90
]


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------
def _boxes(rng, images, cat_ids, probs, n_boxes, ann_id0=1, min_each=0):
    """Long-tailed random boxes; every class gets at least ``min_each``."""
    anns = []
    cats = [c for c in cat_ids for _ in range(min_each)]
    cats += list(rng.choice(cat_ids, size=n_boxes, p=probs))
    for k, c in enumerate(cats):
        im = images[int(rng.integers(len(images)))]
        x, y = rng.uniform(0, 500, size=2)
        w, h = rng.uniform(5, 100, size=2)
        anns.append(dict(id=ann_id0 + k, image_id=im['id'],
                         category_id=int(c),
                         bbox=[round(float(v), 2) for v in (x, y, w, h)],
                         area=round(float(w * h), 2), iscrowd=0))
    return anns


def _zipf(n, a=1.1):
    p = 1.0 / np.arange(1, n + 1)**a
    return p / p.sum()


def make_coco(seed=0, num_images=300):
    rng = np.random.default_rng(seed)
    images = [dict(id=int(i), file_name=f'{int(i):012d}.jpg', width=640,
                   height=480)
              for i in sorted(rng.choice(600000, num_images, replace=False))]
    cats = [dict(id=i, name=n, supercategory='x')
            for i, n in zip(COCO_IDS, COCO_CLASSES)]
    cat_ids = list(rng.permutation(COCO_IDS))  # long tail in random order
    anns = _boxes(rng, images, cat_ids, _zipf(80), 1500, min_each=15)
    return dict(info={'description': 'fixture'}, licenses=[], images=images,
                annotations=anns, categories=cats)


def make_o365(seed=0, num_images=200):
    rng = np.random.default_rng(seed + 100)
    targets = sorted({v for v in load_coco_to_o365_names().values() if v})
    names = targets + [f'Filler {i:03d}' for i in range(365 - len(targets))]
    names = [names[i] for i in rng.permutation(365)]
    cats = [dict(id=i + 1, name=n) for i, n in enumerate(names)]
    # ids 1..N collide with the COCO fixture's small ids on purpose
    images = [dict(id=i, file_name=f'images/v1/patch0/objects365_v1_{i:08d}'
                   '.jpg', width=640, height=480)
              for i in range(1, num_images + 1)]
    anns = _boxes(rng, images, list(range(1, 366)), _zipf(365), 2000)
    return dict(images=images, annotations=anns, categories=cats,
                licenses=[])


def make_lvis(seed=0, num_images=150, num_cats=60):
    rng = np.random.default_rng(seed + 200)
    freq = ['f'] * 15 + ['c'] * 20 + ['r'] * (num_cats - 35)
    cats = [dict(id=i + 1, name=f'cls_{i:03d}', synset=f's{i}.n.01',
                 synonyms=[f'cls_{i:03d}'], def_='', frequency=freq[i],
                 image_count=0, instance_count=0) for i in range(num_cats)]
    images = [dict(id=int(i), width=640, height=480,
                   coco_url='http://images.cocodataset.org/train2017/'
                   f'{int(i):012d}.jpg',
                   neg_category_ids=[int(rng.integers(1, num_cats + 1))],
                   not_exhaustive_category_ids=[])
              for i in sorted(rng.choice(600000, num_images, replace=False))]
    anns = _boxes(rng, images, list(range(1, num_cats + 1)), _zipf(num_cats),
                  900)
    return dict(info={}, licenses=[], images=images, annotations=anns,
                categories=cats)


@pytest.fixture(scope='module')
def coco():
    return make_coco()


@pytest.fixture(scope='module')
def o365():
    return make_o365()


@pytest.fixture(scope='module')
def lvis():
    return make_lvis()


@pytest.fixture(scope='module')
def files(tmp_path_factory, coco, o365, lvis):
    d = tmp_path_factory.mktemp('ann')
    paths = {}
    for name, data in [('coco', coco), ('o365', o365), ('lvis', lvis)]:
        paths[name] = str(d / f'{name}.json')
        with open(paths[name], 'w') as f:
            json.dump(data, f)
    return paths


def _dumps(*objs):
    return [json.dumps(o, separators=(',', ':')).encode() for o in objs]


def _ids(data):
    return [im['id'] for im in data['images']]


def _mmdet_classes(module_file, class_name):
    """A dataset class's METAINFO['classes'] from mmdet's source (no
    import of mmdet/torch)."""
    import importlib.util
    spec = importlib.util.find_spec('mmdet')
    path = osp.join(osp.dirname(spec.origin), 'datasets', module_file)
    tree = ast.parse(open(path).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and \
                        stmt.targets[0].id == 'METAINFO':
                    return ast.literal_eval(stmt.value)['classes']
    raise AssertionError(f'{class_name} not found')


def _check_split_cover(full, labeled, unlabeled, unlabeled_gt):
    lab, unl = set(_ids(labeled)), set(_ids(unlabeled))
    assert not lab & unl
    assert lab | unl == set(_ids(full))
    assert _ids(unlabeled) == _ids(unlabeled_gt)
    assert unlabeled['annotations'] == []
    full_by_img = {}
    for a in full['annotations']:
        full_by_img.setdefault(a['image_id'], []).append(a['id'])
    gt_ids = sorted(a['id'] for a in unlabeled_gt['annotations'])
    assert gt_ids == sorted(i for im in unl for i in full_by_img.get(im, []))


# ---------------------------------------------------------------------------
# constants and class mapping
# ---------------------------------------------------------------------------
def test_class_constants():
    assert tuple(COCO_CLASSES) == tuple(
        _mmdet_classes('coco.py', 'CocoDataset'))
    assert len(COCO_SPLIT1_MINORITY) == 20 == len(set(COCO_SPLIT1_MINORITY))
    assert len(COCO_SPLIT2_MINORITY) == 40 == len(set(COCO_SPLIT2_MINORITY))
    assert set(COCO_SPLIT1_MINORITY) <= set(COCO_CLASSES)
    assert set(COCO_SPLIT2_MINORITY) <= set(COCO_CLASSES)


def test_committed_mapping_matches_objects365_v2_names():
    """data/coco_to_objects365.json == the mapping derived from the
    Objects365 v2 class list shipped in mmdet."""
    o365_names = _mmdet_classes('objects365.py', 'Objects365V2Dataset')
    assert len(o365_names) == 365
    derived, how = derive_coco_to_o365_names(COCO_CLASSES, o365_names)
    table = load_coco_to_o365_names()
    assert table == derived
    assert list(table) == list(COCO_CLASSES)
    assert table['bear'] == table['teddy bear'] == 'Bear'
    assert table['sports ball'] is None
    assert table['tv'] == 'Moniter/TV'
    assert [n for n, v in table.items() if v is None] == ['sports ball']
    targets = {v for v in table.values() if v}
    assert len(targets) == 78 and targets <= set(o365_names)
    assert not any(h in ('no match', 'alias not found') for h in how.values())


def test_coco_to_o365_mapping(coco, o365):
    o_id = {c['name']: c['id'] for c in o365['categories']}
    c_id = {c['name']: c['id'] for c in coco['categories']}
    for name_mapping in (None, load_coco_to_o365_names()):
        mapping, unmatched, report = build_coco_to_o365_mapping(
            coco['categories'], o365['categories'], name_mapping)
        assert unmatched == ['sports ball']
        assert mapping[c_id['bear']] == mapping[c_id['teddy bear']] \
            == o_id['Bear']
        assert mapping[c_id['dining table']] == o_id['Dinning Table']
        assert len(mapping) == 79 and len(set(mapping.values())) == 78
        assert "'teddy bear'" in report and 'sports ball' in report
    bad = dict(load_coco_to_o365_names(), cat='Kitty')
    with pytest.raises(ValueError, match='Kitty'):
        build_coco_to_o365_mapping(coco['categories'], o365['categories'],
                                   bad)
    missing = dict(load_coco_to_o365_names())
    del missing['dog']
    with pytest.raises(ValueError, match="missing COCO classes \\['dog'\\]"):
        build_coco_to_o365_mapping(coco['categories'], o365['categories'],
                                   missing)


# ---------------------------------------------------------------------------
# COCO split1 / split2
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('split', ['split1', 'split2'])
def test_coco_split_invariants(coco, split):
    minority = COCO_SPLIT1_MINORITY if split == 'split1' \
        else COCO_SPLIT2_MINORITY
    lab, unl, unl_gt, stats = build_coco_split(coco, split, seed=1)
    _check_split_cover(coco, lab, unl, unl_gt)
    name = {c['id']: c['name'] for c in coco['categories']}
    maj_only = set(stats['majority_only_image_ids'])
    assert len(maj_only) == 30  # 10% of 300
    for a in lab['annotations']:
        if a['image_id'] in maj_only:
            assert name[a['category_id']] not in minority
    for n in minority:
        assert stats['per_class'][n]['group'] == 'minority'
        assert stats['per_class'][n]['labeled_boxes'] >= 10
    assert stats['params']['split'] == split
    # same seed -> same bytes; other seed -> other split
    again = build_coco_split(coco, split, seed=1)
    assert _dumps(lab, unl, unl_gt, stats) == _dumps(*again)
    other = build_coco_split(coco, split, seed=2)
    assert _ids(other[0]) != _ids(lab)


def test_coco_split_errors(coco):
    renamed = dict(coco, categories=[
        dict(c, name='sofa') if c['name'] == 'couch' else c
        for c in coco['categories']])
    with pytest.raises(ValueError, match='couch'):
        build_coco_split(renamed, 'split1')
    with pytest.raises(ValueError, match='split3'):
        build_coco_split(coco, 'split3')
    with pytest.raises(ValueError, match='min_minority_boxes=1000'):
        build_coco_split(coco, 'split1', min_minority_boxes=1000)


# ---------------------------------------------------------------------------
# COCO -> Objects365
# ---------------------------------------------------------------------------
def test_coco2o365_split(coco, o365):
    mapping, _, _ = build_coco_to_o365_mapping(
        coco['categories'], o365['categories'], load_coco_to_o365_names())
    lab, unl, unl_gt, stats = build_coco2o365_split(
        coco, o365, mapping, num_o365_labeled=20, seed=1)
    off = stats['coco_id_offset']
    assert off == 10000  # smallest power of 10 above the O365 ids (ann: 2000)
    o365_ids = set(_ids(o365))
    lab_o365 = [i for i in _ids(lab) if i in o365_ids]
    lab_coco = [i for i in _ids(lab) if i not in o365_ids]
    assert len(lab_o365) == 20 and len(lab_coco) == len(coco['images'])
    assert sorted(i - off for i in lab_coco) == sorted(_ids(coco))
    assert set(lab_o365) | set(_ids(unl)) == o365_ids
    assert not set(lab_o365) & set(_ids(unl))
    assert len(set(_ids(lab))) == len(lab['images'])
    ann_ids = [a['id'] for a in lab['annotations']]
    assert len(set(ann_ids)) == len(ann_ids)
    assert unl['annotations'] == [] and _ids(unl) == _ids(unl_gt)
    assert lab['categories'] == o365['categories'] == unl['categories']
    # file names carry the per-dataset prefix
    for im in lab['images']:
        if im['id'] >= off:
            assert im['file_name'] == f"train2017/{im['coco_id']:012d}.jpg"
        else:
            assert im['file_name'].startswith('images/v1/patch0/')
    assert all(im['file_name'].startswith('images/v1/patch0/')
               for im in unl['images'])
    # the COCO part only holds majority (mapped) classes; sports ball gone
    majority = set(mapping.values())
    coco_part = [a for a in lab['annotations'] if a['image_id'] >= off]
    assert {a['category_id'] for a in coco_part} <= majority
    sports = [c['id'] for c in coco['categories']
              if c['name'] == 'sports ball'][0]
    n_sports = sum(a['category_id'] == sports for a in coco['annotations'])
    assert stats['dropped_coco_boxes'] == {'sports ball': n_sports}
    assert len(coco_part) == len(coco['annotations']) - n_sports
    groups = {r['category_id']: r['group']
              for r in stats['per_class'].values()}
    assert {c for c, g in groups.items() if g == 'majority'} == majority
    assert stats['num_majority_classes'] == 78
    assert stats['num_minority_classes'] == 287
    bear = stats['per_class']['Bear']
    c_bears = [c['id'] for c in coco['categories']
               if c['name'] in ('bear', 'teddy bear')]
    assert bear['coco_boxes'] == sum(a['category_id'] in c_bears
                                     for a in coco['annotations'])
    # the O365 labeled images keep all their boxes; nothing lost
    assert sum(r['o365_boxes'] + r['unlabeled_boxes']
               for r in stats['per_class'].values()) == len(
                   o365['annotations'])
    format_split_stats(stats)
    again = build_coco2o365_split(coco, o365, mapping, 20, seed=1)
    assert _dumps(lab, unl, unl_gt, stats) == _dumps(*again)
    other = build_coco2o365_split(coco, o365, mapping, 20, seed=2)
    assert other[3]['o365_labeled_image_ids'] != \
        stats['o365_labeled_image_ids']
    # images missing from the Objects365 archive are never labeled
    missing = ['patch0/' + osp.basename(o365['images'][i]['file_name'])
               for i in range(0, 200, 2)]
    ex = build_coco2o365_split(coco, o365, mapping, 100, seed=1,
                               exclude_from_labeled=missing)
    assert set(ex[3]['o365_labeled_image_ids']) == set(range(2, 201, 2))
    with pytest.raises(ValueError, match='does not separate'):
        build_coco2o365_split(coco, o365, mapping, 20, coco_id_offset=5)


# ---------------------------------------------------------------------------
# LVIS
# ---------------------------------------------------------------------------
def test_lvis_split(lvis):
    lab, unl, unl_gt, stats = build_lvis_split(lvis, num_labeled=15, seed=1)
    _check_split_cover(lvis, lab, unl, unl_gt)
    assert len(lab['images']) == 15
    for out in (lab, unl, unl_gt):
        assert out['categories'] == lvis['categories']  # frequency intact
        assert [c['frequency'] for c in out['categories']] == \
            [c['frequency'] for c in lvis['categories']]
    full_images = {im['id']: im for im in lvis['images']}
    for im in lab['images'] + unl['images']:
        assert im == full_images[im['id']]  # coco_url, neg_category_ids...
    lab_set = set(_ids(lab))
    assert sorted(a['id'] for a in lab['annotations']) == sorted(
        a['id'] for a in lvis['annotations'] if a['image_id'] in lab_set)
    groups = {r['group'] for r in stats['per_class'].values()}
    assert groups == {'rare', 'common', 'frequent'}
    assert stats['frequency_summary']['rare']['classes'] == 25
    assert _dumps(lab, unl, unl_gt, stats) == _dumps(
        *build_lvis_split(lvis, num_labeled=15, seed=1))
    assert _ids(build_lvis_split(lvis, num_labeled=15, seed=2)[0]) != \
        _ids(lab)
    assert len(build_lvis_split(lvis, labeled_fraction=0.1)[0]['images']) \
        == 15
    with pytest.raises(ValueError, match='num_labeled'):
        build_lvis_split(lvis, num_labeled=10**6)


# ---------------------------------------------------------------------------
# validate
# ---------------------------------------------------------------------------
def test_validate_accepts_builder_output(coco, lvis):
    lab, unl, unl_gt, built = build_coco_split(coco, 'split1', seed=1)
    for full in (coco, None):
        stats = validate_split(lab, unl, full, COCO_SPLIT1_MINORITY)
        for name, row in built['per_class'].items():
            got = stats['per_class'][name]
            assert got['labeled_boxes'] == row['labeled_boxes']
            assert got['labeled_images'] == row['labeled_images']
            assert got['group'] == row['group']
            if full is not None:
                assert got['unlabeled_boxes'] == row['unlabeled_boxes']
                assert got['hidden_boxes'] == row['hidden_boxes']
        assert stats['num_images']['few_shot'] == \
            built['num_images']['few_shot']
        assert stats['warnings'] == []
    # an unlabeled file carrying its ground truth is counted from itself
    stats = validate_split(lab, unl_gt, None, COCO_SPLIT1_MINORITY)
    assert stats['unlabeled_boxes_source'] == 'unlabeled'
    assert 'images: total=300' in format_split_stats(stats)
    # LVIS: frequency groups
    l_lab, l_unl, _, _ = build_lvis_split(lvis, num_labeled=15)
    stats = validate_split(l_lab, l_unl, lvis)
    assert set(stats['frequency_summary']) == {'rare', 'common', 'frequent'}


def test_validate_rejects_bad_splits(coco):
    lab, unl, _, _ = build_coco_split(coco, 'split1', seed=1)
    overlap = dict(unl, images=unl['images'] + lab['images'][:3])
    with pytest.raises(ValueError, match='share 3 image id.*disjoint'):
        validate_split(lab, overlap, None, COCO_SPLIT1_MINORITY)
    short = dict(unl, images=unl['images'][:-2])
    with pytest.raises(ValueError, match='do not cover.*2 image'):
        validate_split(lab, short, coco, COCO_SPLIT1_MINORITY)
    cats = [dict(c, name='sofa') if c['name'] == 'couch' else c
            for c in unl['categories']]
    with pytest.raises(ValueError, match='categories differ.*sofa'):
        validate_split(lab, dict(unl, categories=cats), None)
    with pytest.raises(ValueError, match='unicorn'):
        validate_split(lab, unl, None, ['unicorn'])
    few = validate_split(lab, unl, None, COCO_SPLIT1_MINORITY,
                         min_minority_boxes=10**4)
    assert len(few['warnings']) == 20


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------
def _run(*args, check=True):
    proc = subprocess.run([PYTHON, TOOL, *args], capture_output=True,
                          text=True, cwd=REPO, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _read(path):
    with open(path, 'rb') as f:
        return f.read()


def test_cli_end_to_end(files, tmp_path):
    out = str(tmp_path / 'out')
    assert 'coco-split1' in _run('--help').stdout
    # COCO split1, twice: byte-identical
    p = _run('coco-split1', '--ann', files['coco'], '--out-dir', out,
             '--quiet')
    assert 'lab_boxes' in p.stdout and 'minority' in p.stdout
    assert 'TOTAL' in p.stdout
    first = _read(osp.join(out, 'split1_labeled.json'))
    _run('coco-split1', '--ann', files['coco'], '--out-dir', out, '--quiet')
    assert _read(osp.join(out, 'split1_labeled.json')) == first
    for suffix in ('unlabeled', 'unlabeled_gt', 'stats'):
        assert osp.isfile(osp.join(out, f'split1_{suffix}.json'))
    _run('coco-split2', '--ann', files['coco'], '--out-dir', out, '--seed',
         '3')
    assert json.load(open(osp.join(out, 'split2_stats.json')))['params'][
        'seed'] == 3
    assert osp.isfile(osp.join(out, 'split2_labeled.json'))
    # validate the written split
    p = _run('validate', '--labeled',
             osp.join(out, 'split1_labeled.json'), '--unlabeled',
             osp.join(out, 'split1_unlabeled.json'), '--full',
             files['coco'], '--minority', 'split1', '--quiet')
    assert 'split OK' in p.stdout and 'hidden' in p.stdout
    p = _run('validate', '--labeled',
             osp.join(out, 'split1_labeled.json'), '--unlabeled',
             osp.join(out, 'split2_unlabeled.json'), '--quiet',
             check=False)
    assert p.returncode == 2 and 'disjoint' in p.stderr
    # COCO -> Objects365
    p = _run('coco2o365', '--coco-ann', files['coco'], '--o365-ann',
             files['o365'], '--num-o365-labeled', '20', '--out-dir', out,
             '--quiet')
    assert "'teddy bear'" in p.stdout and 'Bear' in p.stdout
    assert "unmatched: ['sports ball']" in p.stdout
    assert 'majority classes: 78, minority classes: 287' in p.stdout
    lab = json.loads(_read(osp.join(out, 'coco2o365_labeled.json')))
    assert len(lab['categories']) == 365
    # --write-mapping reproduces the committed file (names of the fixture
    # are the committed targets plus fillers)
    mapping = str(tmp_path / 'mapping.json')
    _run('coco2o365', '--coco-ann', files['coco'], '--o365-ann',
         files['o365'], '--write-mapping', '--mapping-only', '--mapping',
         mapping, '--quiet')
    assert json.load(open(mapping)) == json.load(
        open(DEFAULT_COCO_TO_O365_FILE))
    # LVIS
    p = _run('lvis', '--ann', files['lvis'], '--num-labeled', '15',
             '--out-dir', out)
    assert 'rare' in p.stdout and 'frequent' in p.stdout
    assert 'labeled=15' in p.stdout
    assert 'split LVIS' in p.stderr or 'load lvis.json' in p.stderr  # tqdm


def test_cli_errors(files, tmp_path):
    p = _run('coco-split1', '--ann', str(tmp_path / 'nope.json'),
             '--out-dir', str(tmp_path), check=False)
    assert p.returncode == 2 and 'cocodataset.org' in p.stderr
    p = _run('lvis', '--ann', str(tmp_path / 'nope.json'), '--out-dir',
             str(tmp_path), check=False)
    assert p.returncode == 2 and 'lvisdataset.org' in p.stderr
    p = _run('coco2o365', '--coco-ann', files['coco'], '--o365-ann',
             str(tmp_path / 'nope.json'), '--out-dir', str(tmp_path),
             check=False)
    assert p.returncode == 2 and 'objects365.org' in p.stderr
    # class names that are not in the annotation file are listed
    coco = json.load(open(files['coco']))
    for c in coco['categories']:
        if c['name'] in ('couch', 'tv'):
            c['name'] += '_renamed'
    bad = str(tmp_path / 'renamed.json')
    json.dump(coco, open(bad, 'w'))
    p = _run('coco-split1', '--ann', bad, '--out-dir', str(tmp_path),
             check=False)
    assert p.returncode == 2
    assert "['couch', 'tv']" in p.stderr
