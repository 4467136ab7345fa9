"""Where a semi-supervised detector tells GbR which loss is which branch.

:class:`GbRBranchesMixin` is the only place that sets GbR branches: a
``SemiBaseDetector`` subclass that mixes it in runs its labeled loss in
branch ``labeled`` (weighted by ``semi_train_cfg.sup_weight``) and its
unlabeled loss in branch ``unlabeled`` (``unsup_weight``), so that a
:class:`~cissod.models.losses.GradientBalancedLoss` used as the RoI
classifier's ``loss_cls`` records each branch once per iteration. With a
plain ``loss_cls`` the branches change nothing.

``GradientBalanceHook`` refuses a semi-supervised detector without it (a
renamed mmdet method would otherwise record unlabeled RoIs as labeled).
"""
from contextlib import contextmanager
from typing import Iterator, Optional

from mmdet.structures import SampleList
from torch import Tensor

from cissod_core.gbr import gbr_branch

__all__ = ['GbRBranchesMixin']


class GbRBranchesMixin:
    """GbR branches for a ``SemiBaseDetector`` (``class MyDet(
    GbRBranchesMixin, SemiBaseDetector)``)."""

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
        nothing) with its loss weight from ``semi_train_cfg``."""
        key = {'labeled': 'sup_weight', 'unlabeled': 'unsup_weight'}
        weight = (float(self.semi_train_cfg.get(key[name], 1.0))
                  if name is not None else 0.0)
        with gbr_branch(name, weight):
            yield
