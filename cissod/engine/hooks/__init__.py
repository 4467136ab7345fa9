from .class_rebalancing_hook import ClassRebalancingHook
from .gradient_balance_hook import GradientBalanceHook
from .pseudo_label_logger_hook import PseudoLabelLoggerHook

__all__ = [
    'ClassRebalancingHook', 'GradientBalanceHook', 'PseudoLabelLoggerHook'
]
