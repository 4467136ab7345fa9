"""Optimizer wrappers of cissod (registered in mmdet's ``OPTIM_WRAPPERS``)."""
from .skip_non_finite_optim_wrapper import (
                                            SkipNonFiniteOptimWrapper,
                                            gradients_finite,
)

__all__ = ['SkipNonFiniteOptimWrapper', 'gradients_finite']
