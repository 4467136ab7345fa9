from . import runner  # noqa: F401
from .hooks import GradientBalanceHook

__all__ = ['GradientBalanceHook']
