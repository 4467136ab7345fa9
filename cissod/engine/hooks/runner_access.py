"""What the hooks read from the runner: the detector being trained.

One place for unwrapping DDP and for the typed checks, so every hook fails
with the same clear error on a detector without the CISSOD modules.
"""
from typing import Dict

from mmdet.models.detectors import SemiBaseDetector
from mmengine.model import is_model_wrapper
from torch import nn

from cissod_core.gbr import GradientBalancer

from ...models.detectors import ClassImbalanceMixin, GbRBranchesMixin
from ...models.losses import gbr_losses_of

__all__ = ['unwrap_model', 'class_imbalance_detector', 'gbr_balancers']


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


def gbr_balancers(runner) -> Dict[str, GradientBalancer]:
    """The balancers of the detector's GbR losses, by path
    (:func:`~cissod.models.losses.gbr_losses_of`: the student's, not the
    EMA teacher's copies).

    Raises:
        RuntimeError: the detector has no GbR loss.
        TypeError: a semi-supervised detector that does not set the GbR
            branches (its unlabeled RoIs would be recorded as labeled).
    """
    model = unwrap_model(runner)
    balancers = {f'{name}.balancer': loss.balancer
                 for name, loss in gbr_losses_of(model).items()}
    if not balancers:
        raise RuntimeError(
            'GradientBalanceHook found no GradientBalancedLoss in the '
            'model: set roi_head.bbox_head.loss_cls=dict(type='
            "'GradientBalancedLoss', num_classes=...) (a dense head: "
            "bbox_head.loss_cls=dict(type='GradientBalancedFocalLoss', "
            'num_classes=...)) or remove the hook.')
    if (isinstance(model, SemiBaseDetector)
            and not isinstance(model, GbRBranchesMixin)):
        raise TypeError(
            f'GradientBalanceHook: {type(model).__name__} does not set '
            'the GbR branches, so its unlabeled RoIs would be recorded '
            "as labeled: use type='GbRSoftTeacher' instead of "
            "'SoftTeacher' (or CISSODSoftTeacher), or mix "
            'cissod.models.GbRBranchesMixin into your detector.')
    return balancers
