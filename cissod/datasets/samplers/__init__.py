"""Samplers of cissod: class-rebalancing sampling (CrS, DESIGN.md §2.6).

* :mod:`.repeat_factors` - :func:`rfs_image_factors`, repeat-factor sampling
  (RFS) factors of the labeled images (pure torch).
* :mod:`.class_rebalancing_sampler` -
  :class:`ClassRebalancingMultiSourceSampler`, the 1 labeled : 4 unlabeled
  sampler drawing by RFS / CrS weights, updated in place, fast-forwardable.
"""
from .class_rebalancing_sampler import (ClassRebalancingMultiSourceSampler,
                                        batch_seed)
from .repeat_factors import rfs_image_factors

__all__ = [
    'ClassRebalancingMultiSourceSampler', 'batch_seed', 'rfs_image_factors'
]
