from .gradient_balanced_focal_loss import (
                                           GradientBalancedFocalLoss,
                                           loss_normalizer,
)
from .gradient_balanced_loss import (
                                           GradientBalancedLoss,
                                           build_balancer,
                                           find_balancers,
                                           softmax_focal_loss_per_roi,
                                           with_solver_loss,
)

__all__ = [
    'GradientBalancedLoss', 'GradientBalancedFocalLoss', 'build_balancer',
    'find_balancers', 'loss_normalizer', 'softmax_focal_loss_per_roi',
    'with_solver_loss'
]
