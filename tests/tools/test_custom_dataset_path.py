"""The whole custom-dataset path on real images, a few iterations each.

deepforest's aerial tree crowns (installed by tools/install.sh) -> tiles
and COCO files (tools/make_deepforest_data.py) -> checks and configs
(tools/prepare_custom_dataset.py, unlabeled data as a plain image folder)
-> tools/train.py (burn-in, then CISSOD from it) -> tools/test.py with AP
over all / majority / minority and per class. Also: every bad-data case
stops tools/train.py before the runner is built, with its message.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PY = sys.executable


def _run(args, cwd, timeout=600):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    return subprocess.run([PY] + args, cwd=cwd, env=env, timeout=timeout,
                          capture_output=True, text=True)


def _tool(name):
    return osp.join(REPO, 'tools', name)


@pytest.fixture(scope='module')
def deepforest(tmp_path_factory):
    """Tiles and COCO files of the deepforest images + generated configs."""
    root = tmp_path_factory.mktemp('deepforest')
    data = root / 'data'
    res = _run([_tool('make_deepforest_data.py'), '--out', str(data)], root)
    assert res.returncode == 0, (
        'tools/make_deepforest_data.py failed (is deepforest==2.1.0 '
        f'installed? tools/install.sh installs it):\n{res.stderr[-2000:]}')
    out = root / 'configs'
    res = _run([
        _tool('prepare_custom_dataset.py'), '--name', 'df', '--model',
        'tiny', '--labeled', str(data / 'annotations' / 'labeled.json'),
        str(data / 'images' / 'labeled'), '--unlabeled',
        str(data / 'images' / 'unlabeled'), '--val',
        str(data / 'annotations' / 'val.json'),
        str(data / 'images' / 'val'), '--out', str(out), '--scale', '96',
        '96', '--sup-iters', '2', '--semi-iters', '2', '--num-workers', '0'
    ], root)
    assert res.returncode == 0, res.stderr[-3000:]
    return root, data, out, res.stdout


def test_prepare_writes_checked_data_and_configs(deepforest):
    root, data, out, stdout = deepforest
    # the unlabeled folder became an image-only COCO file
    unlabeled = json.load(open(out / 'unlabeled.json'))
    assert len(unlabeled['images']) == len(
        os.listdir(data / 'images' / 'unlabeled'))
    assert unlabeled['annotations'] == []
    assert [c['name'] for c in unlabeled['categories']] == ['Tree', 'Dead']
    # groups by the documented rule, the table, the commands
    assert '| Tree | majority |' in stdout and '| Dead | minority |' in stdout
    assert 'python tools/train.py' in stdout
    for kind in ('supervised', 'soft-teacher', 'cissod'):
        cfg = Config.fromfile(str(out / f'df_{kind}.py'))
        assert cfg.custom_data['class_groups'] == dict(
            majority=['Tree'], minority=['Dead'])
        assert cfg.val_evaluator.type == 'GroupCocoMetric'
        assert cfg.train_cfg.max_iters == 2
        head = cfg.model.get('detector', cfg.model).roi_head.bbox_head
        assert head.num_classes == 2
        # short: the dataset is one dict in df_data.py
        assert len(open(out / f'df_{kind}.py').read().splitlines()) <= 40
    cissod = Config.fromfile(str(out / 'df_cissod.py'))
    assert cissod.model.detector.roi_head.bbox_head.loss_cls.num_classes == 2
    assert cissod.train_dataloader.sampler.type == \
        'ClassRebalancingMultiSourceSampler'
    sup = Config.fromfile(str(out / 'df_supervised.py'))
    # an infinite sampler: no dataloader restart per epoch
    assert sup.train_dataloader.sampler.type == \
        'ClassRebalancingMultiSourceSampler'


def test_train_and_test_on_real_images(deepforest):
    root, _, out, _ = deepforest
    res = _run([_tool('train.py'), str(out / 'df_supervised.py')], root)
    assert res.returncode == 0, res.stderr[-3000:]
    assert osp.isfile(root / 'work_dirs' / 'df_supervised' / 'iter_2.pth')
    res = _run([_tool('train.py'), str(out / 'df_cissod.py')], root)
    assert res.returncode == 0, res.stderr[-3000:]
    ckpt = root / 'work_dirs' / 'df_cissod' / 'iter_2.pth'
    assert osp.isfile(ckpt)
    res = _run([_tool('test.py'), str(out / 'df_cissod.py'), str(ckpt),
                '--class-groups', 'alive=Tree', 'dead=Dead'], root)
    assert res.returncode == 0, res.stderr[-3000:]
    log = res.stdout + res.stderr
    assert 'bbox AP (x100) all / alive / dead' in log
    assert 'coco/bbox_dead_mAP' in log


def _bad_labeled(data, tmp_path, case):
    """A broken copy of the labeled file and the error message it must
    give."""
    labeled = json.load(open(data / 'annotations' / 'labeled.json'))
    bad_path = tmp_path / 'labeled.json'
    img = labeled['images'][0]
    ann = next(a for a in labeled['annotations']
               if a['image_id'] == img['id'])
    expected = {
        'truncated': 'probably truncated',
        'unknown_category': 'which is not among the categories',
        'duplicate_image': f'duplicate image id {img["id"]!r}',
        'bad_box': 'has a box outside its',
        'missing_image': 'is not on disk at',
        'nan_box': 'which holds a value that is not a finite number',
    }[case]
    if case == 'truncated':
        bad_path.write_text(json.dumps(labeled)[:-50])
        return bad_path, expected
    if case == 'unknown_category':
        ann['category_id'] = 7
    elif case == 'duplicate_image':
        labeled['images'].append(dict(labeled['images'][1], id=img['id']))
    elif case == 'bad_box':
        ann['bbox'] = [img['width'] - 5, 0, 20, 10]
    elif case == 'missing_image':
        img['file_name'] = 'not_there.png'
    elif case == 'nan_box':
        ann['bbox'] = [float('nan'), 10, 5, 8]  # json writes and reads NaN
    bad_path.write_text(json.dumps(labeled))
    return bad_path, expected


@pytest.mark.parametrize('case', [
    'truncated', 'unknown_category', 'duplicate_image', 'bad_box',
    'missing_image', 'nan_box'
])
def test_check_config_stops_on_bad_data(deepforest, tmp_path, case):
    from cissod.utils import check_config
    from cissod_core.datasets import DataCheckError
    _, data, out, _ = deepforest
    bad_path, expected = _bad_labeled(data, tmp_path, case)
    cfg = Config.fromfile(str(out / 'df_cissod.py'))
    cfg.load_from = None  # the burn-in is not needed for the checks
    cfg.train_dataloader.dataset.datasets[0].ann_file = str(bad_path)
    with pytest.raises(DataCheckError) as info:
        check_config(cfg)
    assert expected in str(info.value) and str(bad_path) in str(info.value)


def test_check_config_stops_on_an_image_in_two_datasets(
        deepforest, tmp_path):
    from cissod.utils import check_config
    from cissod_core.datasets import DataCheckError
    _, data, out, _ = deepforest
    # validating on a copy of the labeled file: the same images
    copy = tmp_path / 'val.json'
    copy.write_text((data / 'annotations' / 'labeled.json').read_text())
    cfg = Config.fromfile(str(out / 'df_cissod.py'))
    cfg.load_from = None
    cfg.val_dataloader.dataset.ann_file = str(copy)
    cfg.val_dataloader.dataset.data_prefix.img = str(
        data / 'images' / 'labeled') + '/'
    with pytest.raises(DataCheckError, match='must be different images'):
        check_config(cfg)


@pytest.mark.parametrize('case', ['truncated', 'nan_box'])
def test_tools_train_stops_before_building_the_runner(deepforest, tmp_path,
                                                      case):
    _, data, out, _ = deepforest
    bad_path, expected = _bad_labeled(data, tmp_path, case)
    res = _run([
        _tool('train.py'),
        str(out / 'df_cissod.py'), '--cfg-options',
        f'train_dataloader.dataset.datasets.0.ann_file={bad_path}',
        'load_from=None'
    ], tmp_path, timeout=300)
    assert res.returncode != 0
    assert 'DataCheckError' in res.stderr and expected in res.stderr, \
        res.stderr[-2000:]
    assert str(bad_path) in res.stderr
    if case == 'nan_box':
        assert 'fix or remove the annotation' in res.stderr
    # stopped before the runner was built: no work dir
    assert not (tmp_path / 'work_dirs').exists()


@pytest.mark.parametrize('case', ['empty', 'garbage_png'])
def test_tools_train_stops_on_a_broken_image_file(deepforest, tmp_path, case):
    """A zero-byte file (an interrupted copy) and a PNG signature with a
    garbage body stop tools/train.py before the runner, naming the file."""
    import shutil
    _, data, out, _ = deepforest
    images = tmp_path / 'labeled'
    shutil.copytree(data / 'images' / 'labeled', images)
    labeled = json.load(open(data / 'annotations' / 'labeled.json'))
    broken = images / labeled['images'][0]['file_name']
    with open(broken, 'wb') as f:
        if case == 'garbage_png':
            f.write(b'\x89PNG\r\n\x1a\n' + os.urandom(4096))
    res = _run([
        _tool('train.py'),
        str(out / 'df_cissod.py'), '--cfg-options',
        f'train_dataloader.dataset.datasets.0.data_prefix.img={images}/',
        'load_from=None'
    ], tmp_path, timeout=300)
    assert res.returncode != 0
    expected = {'empty': 'is empty (0 bytes)',
                'garbage_png': 'cannot be read as an image'}[case]
    assert f'({broken}) {expected}' in res.stderr, res.stderr[-2000:]
    assert not (tmp_path / 'work_dirs').exists()


def test_broken_image_met_during_training_names_the_file(deepforest,
                                                         tmp_path):
    """An image that breaks after the start-of-run check (here: the checks
    skipped with --no-check) stops training with the file, the image id and
    the check command instead of a bare decoder assertion; --check-only
    finds the file without training."""
    import shutil
    _, data, out, _ = deepforest
    images = tmp_path / 'labeled'
    shutil.copytree(data / 'images' / 'labeled', images)
    for name in os.listdir(images):  # every labeled image: the first hits
        open(images / name, 'wb').close()
    options = [
        '--cfg-options',
        f'train_dataloader.dataset.datasets.0.data_prefix.img={images}/',
        'load_from=None'
    ]
    res = _run([_tool('train.py'), str(out / 'df_cissod.py'), '--no-check']
               + options, tmp_path, timeout=300)
    assert res.returncode != 0
    assert 'BrokenImageError: cannot load image file ' + str(images) in \
        res.stderr, res.stderr[-2000:]
    assert 'tools/train.py CONFIG --check-only' in res.stderr
    assert '!buf.empty()' in res.stderr  # the decoder's reason is kept
    assert not list((tmp_path / 'work_dirs').rglob('*.pth'))

    res = _run([_tool('train.py'), str(out / 'df_cissod.py'), '--check-only']
               + options, tmp_path, timeout=300)
    assert res.returncode != 0
    assert 'is empty (0 bytes)' in res.stderr, res.stderr[-2000:]


def test_check_only_checks_and_does_not_train(deepforest, tmp_path):
    _, _, out, _ = deepforest
    res = _run([_tool('train.py'),
                str(out / 'df_supervised.py'), '--check-only'],
               tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert '[cissod] data checks passed' in res.stdout
    assert not (tmp_path / 'work_dirs').exists()


def test_r50_profile_scales_the_paper_schedule(deepforest, tmp_path):
    root, data, _, _ = deepforest
    res = _run([
        _tool('prepare_custom_dataset.py'), '--name', 'r', '--labeled',
        str(data / 'annotations' / 'labeled.json'),
        str(data / 'images' / 'labeled'), '--unlabeled',
        str(data / 'images' / 'unlabeled'), '--val',
        str(data / 'annotations' / 'val.json'),
        str(data / 'images' / 'val'), '--out', str(tmp_path), '--gpus', '4',
        '--majority-share', '0.5'
    ], root)
    assert res.returncode == 0, res.stderr[-3000:]
    labeled = json.load(open(data / 'annotations' / 'labeled.json'))
    # the labeled factor sets the length: 180k * (n / 11829) * (8 / 4)
    length = round(180000 * len(labeled['images']) / 11829 * 2)
    for kind in ('supervised', 'soft-teacher', 'cissod'):
        cfg = Config.fromfile(str(tmp_path / f'r_{kind}.py'))
        assert cfg.train_cfg.max_iters == length
        assert cfg.get('load_from') is None  # ImageNet backbone, no burn-in
        assert cfg.param_scheduler[0].end == min(500, round(0.2 * length))
    cissod = Config.fromfile(str(tmp_path / 'r_cissod.py'))
    assert cissod.model.cissod_cfg.ssod_warmup_iters == round(12000 * length /
                                                              180000)
    hooks = {h.type: h for h in cissod.custom_hooks}
    assert hooks['ClassRebalancingHook'].interval == round(16000 * length /
                                                           180000)
    assert cissod.model.detector.backbone.init_cfg.type == 'Pretrained'
