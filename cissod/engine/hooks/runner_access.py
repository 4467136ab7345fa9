"""What the hooks read from the runner: the detector being trained.

One place for unwrapping DDP and for the typed check, so every hook fails
with the same clear error on a detector without the CISSOD modules.
"""
from mmengine.model import is_model_wrapper
from torch import nn

from ...models.detectors import ClassImbalanceMixin

__all__ = ['unwrap_model', 'class_imbalance_detector']


def unwrap_model(runner) -> nn.Module:
    """The runner's model without its DDP / FSDP wrapper."""
    model = runner.model
    return model.module if is_model_wrapper(model) else model


def class_imbalance_detector(runner, hook: str) -> ClassImbalanceMixin:
    """The runner's detector, which must have :class:`ClassImbalanceMixin`.

    Raises:
        TypeError: naming ``hook`` and the detector type found.
    """
    model = unwrap_model(runner)
    if not isinstance(model, ClassImbalanceMixin):
        raise TypeError(
            f'{hook} needs a detector with the ClassImbalanceMixin (e.g. '
            f'CISSODSoftTeacher), got {type(model).__name__}.')
    return model
