from . import model, runner  # noqa: F401
from .hooks import (ClassRebalancingHook, GradientBalanceHook,
                    PseudoLabelLoggerHook)
from .model import (CPUDistributedDataParallel, setup_cpu_distributed,
                    teardown_distributed)
from .runner import FastResumeIterBasedTrainLoop

__all__ = [
    'ClassRebalancingHook', 'GradientBalanceHook', 'PseudoLabelLoggerHook',
    'CPUDistributedDataParallel', 'setup_cpu_distributed',
    'FastResumeIterBasedTrainLoop', 'teardown_distributed'
]
