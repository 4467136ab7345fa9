from . import balancers, losses  # noqa: F401
from .balancers import GradientBalancer
from .losses import GradientBalancedLoss, gbr_branch

__all__ = ['balancers', 'losses', 'GradientBalancer', 'GradientBalancedLoss',
           'gbr_branch']
