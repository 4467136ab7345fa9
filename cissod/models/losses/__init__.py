from .gradient_balanced_loss import (GradientBalancedLoss, find_balancers,
                                     softmax_focal_loss_per_roi)

__all__ = [
    'GradientBalancedLoss', 'find_balancers', 'softmax_focal_loss_per_roi'
]
