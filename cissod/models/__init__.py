from . import balancers, losses, thresholds  # noqa: F401
from . import detectors  # noqa: F401  (imports losses and thresholds)
from .balancers import GradientBalancer
from .detectors import CISSODSoftTeacher, ClassImbalanceMixin
from .losses import GradientBalancedLoss, gbr_branch

__all__ = ['balancers', 'losses', 'thresholds', 'detectors',
           'GradientBalancer', 'GradientBalancedLoss', 'gbr_branch',
           'CISSODSoftTeacher', 'ClassImbalanceMixin']
