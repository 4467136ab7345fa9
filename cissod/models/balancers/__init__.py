"""Gradient-based reweighting (GbR) core: pure torch, no mmdet imports.

* :mod:`.logit_gradients` - closed-form per-RoI logit gradients (CE, focal).
* :mod:`.gradient_matrix` - the class-by-class gradient matrix G, O(R*C).
* :mod:`.accumulator` - exact running mean, then EMA.
* :mod:`.solvers` - class weights from G: ``power`` (default), ``direct``,
  ``jacobi`` (the paper's learnable module).
* :mod:`.class_weights` - clamping and per-RoI loss weights.
* :mod:`.gradient_balancer` - :class:`GradientBalancer`, the stateful module
  the mmdet glue uses.
"""
from .accumulator import RunningAverage, average_momentum
from .class_weights import (batch_weight_mean, clamp_class_weights,
                            roi_class_weights)
from .gradient_balancer import GradientBalancer
from .gradient_matrix import (accumulate_negative_gradients,
                              batch_gradient_matrix)
from .logit_gradients import gradient_scale, logit_gradients
from .solvers import (SOLVERS, BaseSolver, DirectSolver, JacobiSolver,
                      PowerSolver, active_classes, balance_residual,
                      build_solver, negative_inflow, positive_gradients,
                      register_solver)

__all__ = [
    'RunningAverage', 'average_momentum', 'batch_weight_mean',
    'clamp_class_weights', 'roi_class_weights', 'GradientBalancer',
    'accumulate_negative_gradients', 'batch_gradient_matrix',
    'gradient_scale', 'logit_gradients', 'SOLVERS', 'BaseSolver',
    'DirectSolver', 'JacobiSolver', 'PowerSolver', 'active_classes',
    'balance_residual', 'build_solver', 'negative_inflow',
    'positive_gradients', 'register_solver'
]
