from .gbr_branch import (BranchState, current_branch, gbr_branch,
                         install_branch_wrappers)
from .gradient_balanced_loss import (GradientBalancedLoss, find_balancers,
                                     softmax_focal_loss_per_roi)

__all__ = [
    'BranchState', 'current_branch', 'gbr_branch', 'install_branch_wrappers',
    'GradientBalancedLoss', 'find_balancers', 'softmax_focal_loss_per_roi'
]
