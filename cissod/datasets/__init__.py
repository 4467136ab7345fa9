"""Datasets glue of cissod: the CrS sampler and the image loading
(registered in mmdet).

The demo data generator and the CI-SSOD split builders are pure and live
in :mod:`cissod_core.demo` and :mod:`cissod_core.splits`.
"""
from . import samplers, transforms  # noqa: F401
from .samplers import ClassRebalancingMultiSourceSampler
from .transforms import BrokenImageError, LoadImageFromFile

__all__ = [
    'BrokenImageError', 'ClassRebalancingMultiSourceSampler',
    'LoadImageFromFile'
]
