"""mmdet glue of the models: the GbR loss and the semi-supervised detectors
(the math and state they use live in :mod:`cissod_core`)."""
from . import detectors, losses  # noqa: F401
from .detectors import (
                        CISSODMeanTeacher,
                        CISSODSoftTeacher,
                        ClassImbalanceMixin,
                        GbRBranchesMixin,
                        GbRSoftTeacher,
)
from .losses import GradientBalancedLoss

__all__ = [
    'detectors', 'losses', 'GradientBalancedLoss', 'CISSODMeanTeacher',
    'CISSODSoftTeacher', 'ClassImbalanceMixin', 'GbRBranchesMixin',
    'GbRSoftTeacher'
]
