"""The typed hand-off of the kept pseudo labels of one unlabeled batch.

The detector produces one :class:`PseudoLabelBatch` per unlabeled batch
(after GbT); CrS turns it into pool rows and the logger counts it.
"""
from dataclasses import dataclass
from typing import List

import torch
from torch import Tensor

__all__ = ['PseudoLabelBatch']


@dataclass
class PseudoLabelBatch:
    """The RoI-classification pseudo labels the teacher produced for one
    batch of unlabeled images (after GbT), for CrS and logging.

    Attributes:
        img_ids (list[int]): ``B`` image ids (``metainfo['img_id']``).
        box_image (Tensor): ``(M,)`` long, index into ``img_ids`` per box.
        labels (Tensor): ``(M,)`` long class of every kept pseudo box.
        margins (Tensor): ``(M,)`` float32 CrS margins (> 0):
            ``score - theta_label``, or normalised by ``1 - theta_label``
            with ``crs.margin='normalized'`` (:func:`.crs_margins`).
        thresholds (Tensor): ``(n,)`` float32 thresholds in force.
        num_candidates (Tensor): ``(n,)`` long, candidates per class (score
            above the initial threshold) before the class thresholds.
    """
    img_ids: List[int]
    box_image: Tensor
    labels: Tensor
    margins: Tensor
    thresholds: Tensor
    num_candidates: Tensor

    @property
    def num_kept(self) -> Tensor:
        """``(n,)`` long: kept pseudo boxes per class."""
        return torch.bincount(self.labels, minlength=self.thresholds.numel())
