"""``CISSODSoftTeacher``: mmdet's Soft Teacher with GbR, GbT and CrS."""
import copy
from typing import Optional, Tuple

import torch
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, InstanceList, OptConfigType, OptMultiConfig
from mmengine.logging import print_log
from torch import Tensor

from .class_imbalance_mixin import ClassImbalanceMixin
from .gbr_soft_teacher import GbRSoftTeacher


@MODELS.register_module()
class CISSODSoftTeacher(ClassImbalanceMixin, GbRSoftTeacher):
    """Soft Teacher for class-imbalanced SSOD (ICCV 2023, GbR + GbT + CrS).

    Takes :class:`~mmdet.models.SoftTeacher`'s arguments plus ``cissod_cfg``
    (see :mod:`.class_imbalance_mixin`). Where each module acts:

    * GbR: ``loss_by_gt_instances`` -> branch ``labeled``,
      ``loss_by_pseudo_instances`` -> branch ``unlabeled``, and the
      regression-only ``rcnn_reg_loss_by_pseudo_instances`` records nothing.
    * GbT: ``rcnn_cls_loss_by_pseudo_instances`` keeps the pseudo labels of
      class c with ``score > theta_c`` after the SSOD warm-up, and with
      ``score > cls_pseudo_thr`` before (RPN pseudo labels keep
      ``rpn_pseudo_thr``, regression keeps the uncertainty filter). With
      GbT on, this filter replaces Soft Teacher's own: the detector's copy
      of ``semi_train_cfg`` gets ``cls_pseudo_thr=-1`` once, at
      construction (logged), and the configured value is GbT's tau.
    * GbT statistics: :meth:`teacher_detections` re-runs the teacher's RPN
      and RoI head on the teacher features Soft Teacher already computed,
      because Soft Teacher drops the detections below
      ``pseudo_label_initial_score_thr`` in place, and the reference feeds
      every RoI-head detection (test ``score_thr``) to the class scores.
    * CrS: ``get_pseudo_instances`` records the kept pseudo labels, which
      ``loss`` publishes for :class:`~cissod.engine.hooks.ClassRebalancingHook`
      (:data:`~.class_imbalance_mixin.PSEUDO_LABELS_KEY`).

    With ``cissod_cfg=dict(gbr=False, gbt=dict(enable=False),
    crs=dict(enable=False))`` and a plain ``loss_cls`` it computes exactly
    what ``SoftTeacher`` computes.
    """

    def __init__(self,
                 detector: ConfigType,
                 semi_train_cfg: OptConfigType = None,
                 semi_test_cfg: OptConfigType = None,
                 cissod_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            detector=detector,
            semi_train_cfg=semi_train_cfg,
            semi_test_cfg=semi_test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.init_class_imbalance(**dict(cissod_cfg or {}))
        if self.use_gbt:
            # the class thresholds filter the classification pseudo labels
            # (rcnn_cls_loss_by_pseudo_instances); Soft Teacher's own filter
            # keeps everything. The detector's copy: the caller's config
            # stays as it is.
            if self.semi_train_cfg is semi_train_cfg:
                self.semi_train_cfg = copy.deepcopy(semi_train_cfg)
            self.semi_train_cfg['cls_pseudo_thr'] = -1.0
            print_log(
                'cissod: GbT filters the RoI-classification pseudo labels '
                f'(tau = cls_pseudo_thr = {self.class_thresholds.tau}); '
                "Soft Teacher's own cls_pseudo_thr filter is off",
                logger='current')

    @torch.no_grad()
    def teacher_detections(self, samples: SampleList,
                           batch_info: Optional[dict]
                           ) -> Tuple[Tensor, Tensor]:
        """Labels ``(D,)`` and scores ``(D,)`` of every detection of the
        teacher's RoI head (``test_cfg.rcnn``: score_thr, NMS,
        max_per_img) on this batch, recomputed from ``batch_info['feat']``
        (the teacher in eval mode is deterministic, so these are the
        detections Soft Teacher filtered; the backbone is not run again)."""
        feats = batch_info['feat']
        teacher = self.teacher
        rpn_results = teacher.rpn_head.predict(feats, samples, rescale=False)
        results = teacher.roi_head.predict(
            feats, rpn_results, samples, rescale=False)
        return (torch.cat([r.labels for r in results]).long(),
                torch.cat([r.scores for r in results]).float())

    def rcnn_cls_loss_by_pseudo_instances(self, x: Tuple[Tensor],
                                          unsup_rpn_results_list: InstanceList,
                                          batch_data_samples: SampleList,
                                          batch_info: dict) -> dict:
        """Soft Teacher's RoI classification loss with GbT thresholds."""
        if self.use_gbt:
            batch_data_samples = self.filter_by_class_thresholds(
                batch_data_samples)
        return super().rcnn_cls_loss_by_pseudo_instances(
            x, unsup_rpn_results_list, batch_data_samples, batch_info)

    def rcnn_reg_loss_by_pseudo_instances(
            self, x: Tuple[Tensor], unsup_rpn_results_list: InstanceList,
            batch_data_samples: SampleList) -> dict:
        """Soft Teacher's regression loss (records no GbR statistics).

        With the class-adaptive GbT floor, ``pseudo_label_initial_score_thr``
        is lowered below GbT's ``tau_min`` so that low-scored classes reach
        the classification loss; regression still sees only the boxes above
        ``tau_min``, as with the reference's fixed floor.
        """
        return super().rcnn_reg_loss_by_pseudo_instances(
            x, unsup_rpn_results_list,
            self.candidates_above_floor(batch_data_samples))
