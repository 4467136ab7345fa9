"""Samplers of cissod: class-rebalancing sampling (CrS, docs/cissod.md).

* :mod:`.pseudo_label_pool` - :class:`PseudoLabelPool`, the per-image
  pseudo-label classes and margins of the unlabeled set (pure torch).
* :mod:`.class_rebalancing` - the CrS factors ``lam``, ``f_c``, ``r_c`` and
  ``r(I)`` (pure torch, vectorised over the pool).
* :mod:`.repeat_factors` - :func:`rfs_image_factors`, repeat-factor sampling
  (RFS) factors of the labeled images (pure torch).
* :mod:`.class_rebalancing_sampler` -
  :class:`ClassRebalancingMultiSourceSampler`, the 1 labeled : 4 unlabeled
  sampler drawing by RFS / CrS weights, updated in place, fast-forwardable.
"""
from .class_rebalancing import (compute_crs_factors, crs_class_factors,
                                crs_class_frequencies, crs_image_factors,
                                crs_lambda)
from .class_rebalancing_sampler import (ClassRebalancingMultiSourceSampler,
                                        batch_seed)
from .pseudo_label_pool import PseudoLabelPool, boxes_to_rows
from .repeat_factors import rfs_image_factors

__all__ = [
    'PseudoLabelPool', 'boxes_to_rows', 'compute_crs_factors',
    'crs_class_factors', 'crs_class_frequencies', 'crs_image_factors',
    'crs_lambda', 'ClassRebalancingMultiSourceSampler', 'batch_seed',
    'rfs_image_factors'
]
