"""Semi-supervised detectors: where GbR branches are set, where GbT
thresholds are applied and where CrS pseudo labels are recorded.

* :mod:`.gbr_branches` - :class:`GbRBranchesMixin`: labeled / unlabeled
  losses in their GbR branch (the only place that sets branches).
* :mod:`.gbr_soft_teacher` - :class:`GbRSoftTeacher`: Soft Teacher + GbR.
* :mod:`.class_imbalance_mixin` - :class:`ClassImbalanceMixin`: GbT and CrS
  recording for any ``SemiBaseDetector``; publishes the kept pseudo labels.
* :mod:`.cissod_soft_teacher` - :class:`CISSODSoftTeacher`: Soft Teacher +
  GbR + GbT + CrS.
* :mod:`.cissod_mean_teacher` - :class:`CISSODMeanTeacher`: mmdet's
  ``SemiBaseDetector`` (mean teacher, hard pseudo labels) + GbR + GbT + CrS,
  two-stage or one-stage (docs/frameworks.md).
"""
from .cissod_mean_teacher import CISSODMeanTeacher
from .cissod_soft_teacher import CISSODSoftTeacher
from .class_imbalance_mixin import (
                                    PSEUDO_LABELS_KEY,
                                    ClassImbalanceMixin,
                                    PseudoLabelBatch,
                                    published_pseudo_labels,
)
from .gbr_branches import GbRBranchesMixin
from .gbr_soft_teacher import GbRSoftTeacher

__all__ = [
    'CISSODMeanTeacher', 'CISSODSoftTeacher', 'ClassImbalanceMixin',
    'GbRBranchesMixin', 'GbRSoftTeacher', 'PseudoLabelBatch',
    'PSEUDO_LABELS_KEY', 'published_pseudo_labels'
]
