"""Image loading whose failure names the file and says how to check the rest.

mmcv's ``LoadImageFromFile`` re-raises the decoder's error (``cv2.error:
(-215:Assertion failed) !buf.empty()`` for a zero-byte file) without the
file name, from inside a dataloader worker, possibly hours into a run.
This subclass loads exactly as mmcv's does and only rewrites that error.

It is registered in mmdet's ``TRANSFORMS`` under mmcv's name, as mmdet does
with its own ``LoadAnnotations``: with ``import cissod`` (the configs'
``custom_imports``) every ``dict(type='LoadImageFromFile')`` of an
mmdet-scope config, mmdet's ``semi_coco_detection.py`` pipelines included,
builds this class. ``ignore_empty=True`` keeps mmcv's behaviour (the
sample is dropped and the dataset draws another).
"""
import os.path as osp
from typing import Optional

from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile
from mmdet.registry import TRANSFORMS

__all__ = ['BrokenImageError', 'LoadImageFromFile']


class BrokenImageError(RuntimeError):
    """An image file could not be read or decoded during training."""


def broken_image_message(results: dict, reason: str) -> str:
    """The error text for the image of ``results`` (``img_path``, and
    ``img_id`` when the dataset gives one)."""
    path = results.get('img_path')
    img_id = results.get('img_id')
    which = f'image id {img_id}, ' if img_id is not None else ''
    return (
        f'cannot load image file {path} ({which}dataset images under '
        f'{osp.dirname(str(path))}/): {reason}. The file is missing, empty '
        'or corrupt (changed on disk after the start of the run, or the '
        'checks were skipped). Check every image of the config with '
        '`python tools/train.py CONFIG --check-only` (a header read of each '
        'file, no training), restore or remove the broken files, then '
        'resume with `--resume`.')


@TRANSFORMS.register_module()
class LoadImageFromFile(MMCVLoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` with an error that names the file.

    Same arguments and outputs (``img``: ``(H, W, 3)`` uint8 for
    ``color_type='color'``, ``img_shape``, ``ori_shape``).

    Raises:
        BrokenImageError: the file cannot be read or decoded and
            ``ignore_empty`` is False.
    """

    def transform(self, results: dict) -> Optional[dict]:
        try:
            return super().transform(results)
        except BrokenImageError:
            raise
        except Exception as e:  # the decoder's or the file backend's error
            reason = f'{type(e).__name__}: {str(e).strip()}'
            raise BrokenImageError(broken_image_message(results,
                                                        reason)) from e
