"""Registries of cissod that mmdet does not have.

Every other component registers into mmdet's registries (``MODELS``,
``HOOKS``, ``METRICS``, ``DATA_SAMPLERS``, ``LOOPS``).

* :data:`GBR_SOLVERS` - how GbR turns the gradient matrix into class
  weights: ``'power'`` (default), ``'direct'``, ``'jacobi'`` (the classes of
  :mod:`cissod_core.gbr.solvers`). ``GradientBalancedLoss(solver=dict(
  type=...))`` builds from it; register your own solver (a
  :class:`~cissod_core.gbr.BaseSolver` subclass) with
  ``@GBR_SOLVERS.register_module()``.
"""
from mmengine.registry import Registry

from cissod_core.gbr import DirectSolver, JacobiSolver, PowerSolver

__all__ = ['GBR_SOLVERS']

GBR_SOLVERS = Registry('gbr_solver')
GBR_SOLVERS.register_module('power', module=PowerSolver)
GBR_SOLVERS.register_module('direct', module=DirectSolver)
GBR_SOLVERS.register_module('jacobi', module=JacobiSolver)
