"""``GbRSoftTeacher``: mmdet's Soft Teacher with GbR branches only."""
from typing import Tuple

from mmdet.models.detectors import SoftTeacher
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import InstanceList
from torch import Tensor

from .gbr_branches import GbRBranchesMixin


@MODELS.register_module()
class GbRSoftTeacher(GbRBranchesMixin, SoftTeacher):
    """Soft Teacher whose losses record into GbR's branches.

    Use it with ``loss_cls=dict(type='GradientBalancedLoss', ...)`` and
    ``GradientBalanceHook`` to add gradient-based reweighting to mmdet's
    Soft Teacher; it takes exactly ``SoftTeacher``'s arguments. Labeled loss
    -> branch ``labeled``, unlabeled loss -> branch ``unlabeled``, and Soft
    Teacher's regression-only pass (whose classification loss is discarded)
    records nothing.
    """

    def rcnn_reg_loss_by_pseudo_instances(
            self, x: Tuple[Tensor], unsup_rpn_results_list: InstanceList,
            batch_data_samples: SampleList) -> dict:
        """Soft Teacher's regression loss; records no GbR statistics (its
        classification loss is discarded)."""
        with self.loss_branch(None):
            return super().rcnn_reg_loss_by_pseudo_instances(
                x, unsup_rpn_results_list, batch_data_samples)
