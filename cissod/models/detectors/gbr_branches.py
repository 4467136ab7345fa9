"""Where a semi-supervised detector tells its GbR losses which loss is
which branch.

:class:`GbRBranchesMixin` runs a ``SemiBaseDetector``'s labeled loss in
branch ``labeled`` (weighted by ``semi_train_cfg.sup_weight``) and its
unlabeled loss in branch ``unlabeled`` (``unsup_weight``): it enters
``in_branch`` of each of the student's GbR losses
(:func:`~cissod.models.losses.gbr_losses_of`), so that a
:class:`~cissod.models.losses.GradientBalancedLoss` used as the RoI
classifier's ``loss_cls`` records each branch once per iteration. With a
plain ``loss_cls`` the branches change nothing.

``GradientBalanceHook`` refuses a semi-supervised detector without it (a
renamed mmdet method would otherwise record unlabeled RoIs as labeled).
"""
from contextlib import ExitStack, contextmanager
from typing import Dict, Iterator, Optional

from mmdet.structures import SampleList
from torch import Tensor

from ..losses import GbRLoss, gbr_losses_of

__all__ = ['GbRBranchesMixin']


class GbRBranchesMixin:
    """GbR branches for a ``SemiBaseDetector`` (``class MyDet(
    GbRBranchesMixin, SemiBaseDetector)``)."""

    @property
    def gbr_losses(self) -> Dict[str, GbRLoss]:
        """The student's GbR losses by path (empty without GbR)."""
        return gbr_losses_of(self)

    def loss_by_gt_instances(self, batch_inputs: Tensor,
                             batch_data_samples: SampleList) -> dict:
        """Labeled loss, in GbR branch ``labeled``."""
        with self.loss_branch('labeled'):
            return super().loss_by_gt_instances(batch_inputs,
                                                batch_data_samples)

    def loss_by_pseudo_instances(self,
                                 batch_inputs: Tensor,
                                 batch_data_samples: SampleList,
                                 batch_info: Optional[dict] = None) -> dict:
        """Unlabeled loss, in GbR branch ``unlabeled``."""
        with self.loss_branch('unlabeled'):
            return super().loss_by_pseudo_instances(batch_inputs,
                                                    batch_data_samples,
                                                    batch_info)

    @contextmanager
    def loss_branch(self, name: Optional[str]) -> Iterator[None]:
        """Branch ``name`` (``'labeled'``, ``'unlabeled'`` or None: record
        nothing) with its loss weight from ``semi_train_cfg``, for every
        GbR loss of the student."""
        key = {'labeled': 'sup_weight', 'unlabeled': 'unsup_weight'}
        weight = (float(self.semi_train_cfg.get(key[name], 1.0))
                  if name is not None else 0.0)
        with ExitStack() as stack:
            for loss in self.gbr_losses.values():
                stack.enter_context(loss.in_branch(name, weight))
            yield
