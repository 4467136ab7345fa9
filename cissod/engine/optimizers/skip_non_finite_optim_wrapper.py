"""An fp32 optimizer wrapper that skips updates with non-finite gradients.

For ``NonFiniteLossHook(keep_going=True)`` (``tools/train.py
--skip-non-finite``): a step whose gradients hold a NaN or inf leaves the
parameters and the optimizer state as they were, as ``AmpOptimWrapper``'s
dynamic loss scale does under ``--amp``. The decision is made on the
gradients after backward, i.e. after DDP's all-reduce: every rank sees the
same gradients, so every rank skips the same steps.
"""
from typing import List

import torch
from mmdet.registry import OPTIM_WRAPPERS
from mmengine.optim import OptimWrapper

__all__ = ['SkipNonFiniteOptimWrapper', 'gradients_finite']


def gradients_finite(params: List[torch.Tensor]) -> bool:
    """Whether every gradient of ``params`` is finite (one device sync).

    The max-abs norm of each gradient is NaN / inf exactly when the
    gradient has a NaN / inf entry, and it cannot overflow."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return True
    norms = torch._foreach_norm(grads, float('inf'))
    return bool(torch.isfinite(torch.stack(norms)).all())


@OPTIM_WRAPPERS.register_module()
class SkipNonFiniteOptimWrapper(OptimWrapper):
    """``OptimWrapper`` that skips ``optimizer.step`` when a gradient is not
    finite, counts the skipped steps (``num_skipped_steps``, logged as
    ``train/num_skipped_steps`` and kept in the checkpoint)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.num_skipped_steps = 0

    def step(self, **kwargs) -> None:
        params = [p for group in self.optimizer.param_groups
                  for p in group['params']]
        if gradients_finite(params):
            super().step(**kwargs)
        else:
            self.num_skipped_steps += 1
        self.message_hub.update_scalar('train/num_skipped_steps',
                                       self.num_skipped_steps)

    def state_dict(self) -> dict:
        state = super().state_dict()
        state['num_skipped_steps'] = self.num_skipped_steps
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        self.num_skipped_steps = int(state_dict.pop('num_skipped_steps', 0))
        super().load_state_dict(state_dict)
