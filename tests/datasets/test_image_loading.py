"""cissod's LoadImageFromFile: mmcv's loading, an error that names the file.

A config's ``dict(type='LoadImageFromFile')`` (mmdet scope, cissod
imported) builds it; a good image loads exactly as with mmcv's transform;
a missing, empty or corrupt file raises :class:`BrokenImageError` naming
the file, the image id and the check command, also from a dataloader
worker.
"""
import os

import numpy as np
import pytest
import torch
from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile
from mmengine.registry import init_default_scope
from PIL import Image

import cissod  # noqa: F401
from cissod.datasets import BrokenImageError, LoadImageFromFile


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    good = tmp_path / 'good.png'
    Image.fromarray(rng.integers(0, 255, (12, 20, 3), dtype=np.uint8)).save(
        good)
    empty = tmp_path / 'empty.png'
    empty.write_bytes(b'')
    garbage = tmp_path / 'garbage.png'
    garbage.write_bytes(b'\x89PNG\r\n\x1a\n' + os.urandom(2048))
    return dict(good=str(good), empty=str(empty), garbage=str(garbage),
                missing=str(tmp_path / 'missing.png'))


def test_config_type_builds_the_cissod_transform():
    from mmdet.registry import TRANSFORMS
    init_default_scope('mmdet')
    t = TRANSFORMS.build(dict(type='LoadImageFromFile'))
    assert type(t) is LoadImageFromFile
    assert isinstance(t, MMCVLoadImageFromFile)


def test_good_image_loads_as_with_mmcv(images):
    ours = LoadImageFromFile()(dict(img_path=images['good'], img_id=3))
    ref = MMCVLoadImageFromFile()(dict(img_path=images['good'], img_id=3))
    assert ours['img'].shape == (12, 20, 3)
    np.testing.assert_array_equal(ours['img'], ref['img'])
    assert ours['img_shape'] == ref['img_shape'] == (12, 20)
    assert ours['ori_shape'] == ref['ori_shape']


@pytest.mark.parametrize('case', ['empty', 'garbage', 'missing'])
def test_broken_file_names_the_file_and_the_check(images, case):
    path = images[case]
    with pytest.raises(BrokenImageError) as err:
        LoadImageFromFile()(dict(img_path=path, img_id=7))
    msg = str(err.value)
    assert msg.startswith(f'cannot load image file {path} (image id 7, '
                          f'dataset images under {os.path.dirname(path)}/)')
    assert 'tools/train.py CONFIG --check-only' in msg
    assert '--resume' in msg


@pytest.mark.parametrize('case', ['empty', 'missing'])
def test_ignore_empty_keeps_mmcvs_behaviour(images, case):
    assert LoadImageFromFile(ignore_empty=True)(
        dict(img_path=images[case])) is None


class _Paths(torch.utils.data.Dataset):

    def __init__(self, paths):
        self.paths = paths
        self.load = LoadImageFromFile()

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return self.load(dict(img_path=self.paths[i], img_id=i))['img']


def test_error_from_a_dataloader_worker_keeps_type_and_file(images):
    loader = torch.utils.data.DataLoader(
        _Paths([images['good'], images['empty']]), batch_size=1,
        num_workers=1)
    with pytest.raises(BrokenImageError) as err:
        for _ in loader:
            pass
    assert f'cannot load image file {images["empty"]} (image id 1' in str(
        err.value)
