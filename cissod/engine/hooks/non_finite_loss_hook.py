"""Stop a run at its first non-finite loss, before a checkpoint of it.

mmdet's :class:`~mmdet.engine.hooks.CheckInvalidLossHook` is the mechanism
this builds on: a hook that looks at ``outputs['loss']`` after the
iteration. What it lacks, and this subclass adds:

* it checks every ``interval`` (50) iterations, so a checkpoint of a NaN
  model can be written in between; here ``interval=1``;
* its message is lost (``assert ..., runner.logger.info(...)`` asserts with
  ``None``); here the error names the iteration, every non-finite loss term
  and the gradient norm, the likely causes and the last good checkpoint;
* it does not look at the gradient norm (a finite loss whose backward
  overflowed has already made the parameters NaN) nor at what is saved:
  here ``before_save_checkpoint`` refuses to write a model state that is
  not finite, whichever hook asks for the checkpoint.

It runs at priority ``ABOVE_NORMAL``, before the hooks that update method
state (GbR, CrS) or save checkpoints (``VERY_LOW``) in ``after_train_iter``.

``keep_going=True`` (``tools/train.py --skip-non-finite``, off by default)
warns and goes on instead: the optimizer wrapper must then skip the
non-finite steps (``SkipNonFiniteOptimWrapper``, or ``AmpOptimWrapper``
whose dynamic loss scale does), which ``before_train`` checks.
"""
import math
from typing import Dict, Optional

import torch
from mmdet.engine.hooks import CheckInvalidLossHook
from mmdet.registry import HOOKS
from mmengine.optim import AmpOptimWrapper, OptimWrapperDict

from ..optimizers import SkipNonFiniteOptimWrapper

__all__ = ['NonFiniteLossError', 'NonFiniteLossHook', 'non_finite_terms']


class NonFiniteLossError(RuntimeError):
    """Training produced a non-finite loss or gradient norm."""


def non_finite_terms(outputs: Dict[str, object]) -> Dict[str, float]:
    """The entries of a train step's ``outputs`` (log vars: loss terms,
    floats or 0-d tensors) that are not finite numbers."""
    bad = {}
    for name, value in outputs.items():
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                continue
            value = float(value.detach())
        if isinstance(value, (int, float)) and not math.isfinite(value):
            bad[name] = float(value)
    return bad


CAUSES = (
    'Likely causes: a learning rate too high for the batch size '
    '(optim_wrapper.optimizer.lr; --auto-scale-lr scales it), fp16 overflow '
    'under --amp (AmpOptimWrapper with loss_scale="dynamic" skips such '
    'steps), or bad boxes in the data (NaN / huge coordinates: run '
    'tools/train.py without --no-check, or tools/prepare_custom_dataset.py).')


@HOOKS.register_module()
class NonFiniteLossHook(CheckInvalidLossHook):
    """Raise :class:`NonFiniteLossError` at the first non-finite loss term
    or gradient norm, and never save a non-finite model state.

    Args:
        interval (int): check every ``interval`` iterations. Defaults to 1.
        keep_going (bool): log a warning and go on instead of raising; the
            optimizer wrapper skips the step. Defaults to False.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, interval: int = 1, keep_going: bool = False) -> None:
        super().__init__(interval=interval)
        self.keep_going = keep_going

    def before_train(self, runner) -> None:
        if not self.keep_going:
            return
        wrapper = runner.optim_wrapper
        wrappers = (wrapper.values() if isinstance(wrapper, OptimWrapperDict)
                    else [wrapper])
        for wrapper in wrappers:
            if not isinstance(wrapper,
                              (SkipNonFiniteOptimWrapper, AmpOptimWrapper)):
                raise ValueError(
                    'NonFiniteLossHook(keep_going=True) needs an optimizer '
                    'wrapper that skips non-finite steps, the config has '
                    f'{type(wrapper).__name__}: set optim_wrapper.type='
                    "'SkipNonFiniteOptimWrapper' (or use --amp), or run "
                    'tools/train.py with --skip-non-finite, which sets both.')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs or not self.every_n_train_iters(runner, self.interval):
            return
        bad = non_finite_terms(outputs)
        grad_norm = self._grad_norm(runner)
        if grad_norm is not None and not math.isfinite(grad_norm):
            bad['grad_norm'] = grad_norm
        if not bad:
            return
        terms = ', '.join(f'{k}={v}' for k, v in bad.items())
        if self.keep_going:
            runner.logger.warning(
                f'non-finite training loss at iteration {runner.iter + 1}: '
                f'{terms}; the optimizer step is skipped (keep_going=True). '
                f'{CAUSES}')
            return
        raise NonFiniteLossError(
            f'non-finite training loss at iteration {runner.iter + 1}: '
            f'{terms}. {CAUSES} The run stops here: no checkpoint of this '
            f'state is written; {self._last_checkpoint(runner)} To skip such '
            'steps instead: tools/train.py --skip-non-finite.')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('state_dict', {})
        bad = [k for k, t in state.items()
               if isinstance(t, torch.Tensor) and t.is_floating_point()
               and not bool(torch.isfinite(t).all())]
        if bad:
            raise NonFiniteLossError(
                f'refusing to save the checkpoint of iteration {runner.iter}'
                f': {len(bad)} model tensors are not finite (e.g. {bad[0]}). '
                f'{CAUSES} {self._last_checkpoint(runner)}')

    @staticmethod
    def _grad_norm(runner) -> Optional[float]:
        """This iteration's gradient norm, when the optimizer wrapper clips
        (``clip_grad``) and so logs ``train/grad_norm``."""
        buffer = runner.message_hub.log_scalars.get('train/grad_norm')
        return None if buffer is None else float(buffer.current())

    @staticmethod
    def _last_checkpoint(runner) -> str:
        last = runner.message_hub.get_info('last_ckpt')
        return (f'the last good checkpoint is {last} (resume from it with a '
                'lower learning rate: --resume ' + str(last) + ').'
                if last else 'no checkpoint had been saved yet.')
