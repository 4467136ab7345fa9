"""Semi-supervised detectors: CISSOD Soft Teacher and the reusable mixin."""
from .cissod_soft_teacher import CISSODSoftTeacher
from .class_imbalance_mixin import ClassImbalanceMixin, PseudoLabelBatch

__all__ = ['CISSODSoftTeacher', 'ClassImbalanceMixin', 'PseudoLabelBatch']
