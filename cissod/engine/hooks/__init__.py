from .class_rebalancing_hook import ClassRebalancingHook
from .gradient_balance_hook import GradientBalanceHook
from .non_finite_loss_hook import (
                                   NonFiniteLossError,
                                   NonFiniteLossHook,
                                   non_finite_terms,
)
from .pseudo_label_logger_hook import PseudoLabelLoggerHook

__all__ = [
    'ClassRebalancingHook', 'GradientBalanceHook', 'NonFiniteLossError',
    'NonFiniteLossHook', 'PseudoLabelLoggerHook', 'non_finite_terms'
]
