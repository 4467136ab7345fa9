from . import model, optimizers, runner  # noqa: F401
from .hooks import (
                    ClassRebalancingHook,
                    GradientBalanceHook,
                    PseudoLabelLoggerHook,
)
from .model import (
                    CPUDistributedDataParallel,
                    setup_cpu_distributed,
                    teardown_distributed,
)
from .optimizers import SkipNonFiniteOptimWrapper
from .runner import FastResumeIterBasedTrainLoop

__all__ = [
    'ClassRebalancingHook', 'GradientBalanceHook', 'PseudoLabelLoggerHook',
    'CPUDistributedDataParallel', 'setup_cpu_distributed',
    'FastResumeIterBasedTrainLoop', 'SkipNonFiniteOptimWrapper',
    'teardown_distributed'
]
