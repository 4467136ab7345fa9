"""Datasets glue of cissod: the CrS sampler (registered in mmdet).

The demo data generator and the CI-SSOD split builders are pure and live
in :mod:`cissod_core.demo` and :mod:`cissod_core.splits`.
"""
from . import samplers  # noqa: F401
from .samplers import ClassRebalancingMultiSourceSampler

__all__ = ['ClassRebalancingMultiSourceSampler']
