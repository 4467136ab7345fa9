"""Where a detector's GbR losses are: their attribute paths, no search.

``roi_head.bbox_head.loss_cls`` of a two-stage detector (each stage of a
cascade), ``bbox_head.loss_cls`` of a dense one; of the ``student`` of a
semi-supervised detector (its teacher computes no loss).
"""
from typing import Dict, Union

from torch import nn

from .gradient_balanced_focal_loss import GradientBalancedFocalLoss
from .gradient_balanced_loss import GradientBalancedLoss

__all__ = ['GbRLoss', 'gbr_losses_of']

GbRLoss = Union[GradientBalancedLoss, GradientBalancedFocalLoss]


def _classification_heads(detector: nn.Module) -> Dict[str, nn.Module]:
    roi_head = getattr(detector, 'roi_head', None)
    if roi_head is not None:
        heads = roi_head.bbox_head
        if isinstance(heads, nn.ModuleList):  # cascade stages
            return {f'roi_head.bbox_head.{i}': h for i, h in enumerate(heads)}
        return {'roi_head.bbox_head': heads}
    head = getattr(detector, 'bbox_head', None)
    return {} if head is None else {'bbox_head': head}


def gbr_losses_of(model: nn.Module) -> Dict[str, GbRLoss]:
    """The GbR classification losses of ``model`` by their path (e.g.
    ``'student.roi_head.bbox_head.loss_cls'``); empty without one."""
    detector, prefix = model, ''
    if isinstance(getattr(model, 'student', None), nn.Module):
        detector, prefix = model.student, 'student.'
    losses = {}
    for name, head in _classification_heads(detector).items():
        loss = getattr(head, 'loss_cls', None)
        if isinstance(loss, (GradientBalancedLoss,
                             GradientBalancedFocalLoss)):
            losses[f'{prefix}{name}.loss_cls'] = loss
    return losses
