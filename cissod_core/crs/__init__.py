"""Class-rebalancing sampling (CrS): pure torch, no mmdet / mmengine.

* :mod:`.class_rebalancing` - one function per term of the paper: the
  margins, ``lam``, ``f_c``, ``r_c`` and ``r(I)`` (vectorised over the
  pool).
* :mod:`.pseudo_label_pool` - :class:`PseudoLabelPool`, the per-image
  pseudo-label classes and margins of the unlabeled set.
* :mod:`.repeat_factors` - :func:`rfs_image_factors`, repeat-factor sampling
  (RFS) factors of the labeled images.
* :mod:`.rebalancer` - :class:`ClassRebalancer`, all CrS state: records
  pseudo labels into the pool and computes the image factors.
* :mod:`.batch_draws` - the sampler's seeds and draw weights.
* :mod:`.pseudo_labels` - :class:`PseudoLabelBatch`, the typed hand-off of
  one batch's kept pseudo labels from the detector to CrS and logging.
"""
from .batch_draws import REPEAT_MODES, batch_seed, draw_weights, num_per_source
from .class_rebalancing import (
                                MARGIN_MODES,
                                compute_crs_factors,
                                crs_class_factors,
                                crs_class_frequencies,
                                crs_image_factors,
                                crs_lambda,
                                crs_margins,
)
from .pseudo_label_pool import PseudoLabelPool, boxes_to_rows
from .pseudo_labels import PseudoLabelBatch
from .rebalancer import ClassRebalancer
from .repeat_factors import class_image_counts, rfs_image_factors

__all__ = [
    'REPEAT_MODES', 'batch_seed', 'draw_weights', 'num_per_source',
    'MARGIN_MODES', 'compute_crs_factors', 'crs_class_factors',
    'crs_class_frequencies', 'crs_image_factors', 'crs_lambda',
    'crs_margins', 'PseudoLabelPool', 'boxes_to_rows', 'PseudoLabelBatch',
    'ClassRebalancer', 'class_image_counts', 'rfs_image_factors'
]
