"""Samplers of cissod (mmdet glue over :mod:`cissod_core.crs`).

* :mod:`.class_rebalancing_sampler` -
  :class:`ClassRebalancingMultiSourceSampler`, the 1 labeled : 4 unlabeled
  sampler drawing by RFS / CrS weights, updated in place, fast-forwardable.
"""
from .class_rebalancing_sampler import (
                                        ClassRebalancingMultiSourceSampler,
                                        loader_sampler,
)

__all__ = ['ClassRebalancingMultiSourceSampler', 'loader_sampler']
