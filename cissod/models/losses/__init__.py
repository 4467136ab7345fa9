"""GbR's losses (registered in mmdet's ``MODELS``) and where a detector
holds them."""
from .gbr_losses import GbRLoss, gbr_losses_of
from .gradient_balanced_focal_loss import (
                                           GradientBalancedFocalLoss,
                                           loss_normalizer,
)
from .gradient_balanced_loss import (
                                           GradientBalancedLoss,
                                           build_balancer,
                                           softmax_focal_loss_per_roi,
                                           with_solver_loss,
)
from .loss_branch import LossBranchMixin

__all__ = [
    'GbRLoss', 'GradientBalancedLoss', 'GradientBalancedFocalLoss',
    'LossBranchMixin', 'build_balancer', 'gbr_losses_of', 'loss_normalizer',
    'softmax_focal_loss_per_roi', 'with_solver_loss'
]
