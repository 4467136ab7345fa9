"""Gradient-based reweighting (GbR): pure torch, no mmdet / mmengine.

* :mod:`.logit_gradients` - closed-form per-RoI logit gradients (CE, focal).
* :mod:`.gradient_matrix` - the class-by-class gradient matrix G, O(R*C):
  where G is computed.
* :mod:`.sigmoid_logit_gradients` / :mod:`.sigmoid_gradient_matrix` - the
  same for sigmoid (BCE / focal) classifiers: where G of a dense head is
  computed.
* :mod:`.accumulator` - exact running mean, then EMA.
* :mod:`.solvers` - class weights from G: ``PowerSolver`` (default),
  ``DirectSolver``, ``JacobiSolver`` (the paper's learnable module).
* :mod:`.class_weights` - clamping and per-RoI loss weights.
* :mod:`.branch` - the branches (labeled / unlabeled / none) a
  classification-loss call can record into.
* :mod:`.gradient_balancer` - :class:`GradientBalancer`, all GbR state in
  module buffers.
"""
from .accumulator import RunningAverage, average_momentum
from .branch import (
                     DEFAULT_BRANCH,
                     RECORDED_BRANCHES,
                     BranchState,
                     check_branch,
)
from .class_weights import (
                     batch_weight_mean,
                     clamp_class_weights,
                     roi_class_weights,
)
from .gradient_balancer import CLASSIFIERS, GradientBalancer
from .gradient_matrix import (
                     accumulate_negative_gradients,
                     batch_gradient_matrix,
)
from .logit_gradients import gradient_scale, logit_gradients
from .sigmoid_gradient_matrix import (
                     accumulate_sigmoid_gradients,
                     sigmoid_gradient_matrix,
)
from .sigmoid_logit_gradients import (
                     focal_alpha_factors,
                     sigmoid_focal_phi,
                     sigmoid_logit_gradients,
)
from .solvers import (
                     BaseSolver,
                     DirectSolver,
                     JacobiSolver,
                     PowerSolver,
                     active_classes,
                     balance_residual,
                     negative_inflow,
                     positive_gradients,
)

__all__ = [
    'RunningAverage', 'average_momentum', 'RECORDED_BRANCHES',
    'BranchState', 'DEFAULT_BRANCH', 'check_branch', 'batch_weight_mean',
    'clamp_class_weights', 'roi_class_weights', 'CLASSIFIERS',
    'GradientBalancer', 'accumulate_sigmoid_gradients',
    'sigmoid_gradient_matrix', 'focal_alpha_factors', 'sigmoid_focal_phi',
    'sigmoid_logit_gradients',
    'accumulate_negative_gradients', 'batch_gradient_matrix',
    'gradient_scale', 'logit_gradients', 'BaseSolver', 'DirectSolver',
    'JacobiSolver', 'PowerSolver', 'active_classes', 'balance_residual',
    'negative_inflow', 'positive_gradients'
]
