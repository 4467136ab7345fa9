from .hooks import GradientBalanceHook

__all__ = ['GradientBalanceHook']
