from .gradient_balance_hook import GradientBalanceHook

__all__ = ['GradientBalanceHook']
