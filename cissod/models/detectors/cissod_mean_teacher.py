"""``CISSODMeanTeacher``: mmdet's ``SemiBaseDetector`` (a mean teacher with
hard pseudo labels, the Unbiased Teacher setting) with GbR, GbT and CrS."""
import copy
from typing import Optional

from mmdet.models.detectors import SemiBaseDetector
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.logging import print_log
from torch import Tensor

from .class_imbalance_mixin import ClassImbalanceMixin

#: GbT's lower bound ``tau_min`` when ``cissod_cfg.gbt.tau_min`` is not set
#: (capped at ``cls_pseudo_thr``): the reference's
#: ``pseudo_label_initial_score_thr``, which ``SemiBaseDetector`` lacks.
DEFAULT_TAU_MIN = 0.5


@MODELS.register_module()
class CISSODMeanTeacher(ClassImbalanceMixin, SemiBaseDetector):
    """Mean teacher with hard pseudo labels + GbR + GbT + CrS, for any
    mmdet detector (two-stage: Faster R-CNN; one-stage: RetinaNet).

    The framework is mmdet's :class:`~mmdet.models.SemiBaseDetector`
    unchanged: the EMA teacher (``MeanTeacherHook``) predicts on the weakly
    augmented unlabeled image (``teacher.predict``: its test ``score_thr``,
    NMS, ``max_per_img``), the predictions are projected onto the strongly
    augmented view, and the student's *whole* loss is computed on the
    pseudo boxes kept by one score threshold ``cls_pseudo_thr``, weighted
    by ``unsup_weight`` (0 when none is kept). It takes ``SemiBaseDetector``'s
    arguments plus ``cissod_cfg`` (:mod:`.class_imbalance_mixin`).

    Where the three modules act:

    * **GbT, thresholds**: the hard pseudo labels reaching the unsupervised
      loss (:meth:`loss_by_pseudo_instances`) are those of class c with
      ``score > theta_c`` after the SSOD warm-up and ``score >
      cls_pseudo_thr`` before it (``theta_c = cls_pseudo_thr`` for every c,
      the same comparison as mmdet's filter). The configured
      ``cls_pseudo_thr`` is GbT's upper bound tau; with GbT on, the
      detector's copy of ``semi_train_cfg`` gets ``cls_pseudo_thr=-1`` at
      construction (logged), so that mmdet's single-threshold filter keeps
      everything the class thresholds kept. Every loss term of the student
      sees this one set of pseudo boxes, as in ``SemiBaseDetector``:

      ================  =========================================
      detector          unsupervised loss terms (all: score > theta_c)
      ================  =========================================
      two-stage         RPN objectness + RPN box regression,
                        RoI classification + RoI box regression
      one-stage         classification (focal) + box regression
      ================  =========================================

      (Unlike Soft Teacher there is no separate RPN threshold, candidate
      threshold or regression-uncertainty filter to keep. Unbiased Teacher
      itself drops the unsupervised box-regression terms; mmdet's
      ``SemiBaseDetector``, and so this detector, keeps them.) GbT's
      lower bound ``tau_min`` is ``cissod_cfg.gbt.tau_min``; when not set,
      :data:`DEFAULT_TAU_MIN` (0.5, the reference's, capped at
      ``cls_pseudo_thr``): ``SemiBaseDetector`` has no
      ``pseudo_label_initial_score_thr`` to take it from.
    * **GbT, statistics**: ``SemiBaseDetector`` does not filter the
      teacher's predictions before the loss, so the pseudo instances of
      ``get_pseudo_instances`` *are* every teacher detection above the
      teacher's ``test_cfg`` score threshold (``test_cfg.rcnn.score_thr``
      for Faster R-CNN, ``test_cfg.score_thr`` for RetinaNet; 0.05 in our
      configs), after its NMS and ``max_per_img``; the mixin's default
      :meth:`teacher_detections` feeds them (those with score >
      ``gbt.detection_score_thr``, 0.05) to the running class scores. The
      ``'candidates'`` score source is therefore the same set here.
    * **GbR**: the labeled loss runs in branch ``labeled``, the unlabeled
      loss in branch ``unlabeled`` (:class:`~.GbRBranchesMixin`), so the
      student's gradient-balanced classification loss (two-stage: the RoI
      head's ``GradientBalancedLoss``; one-stage: the dense head's
      ``loss_cls``) records both and weights the classes. The RPN's
      objectness loss is class-agnostic and stays plain.
    * **CrS**: the pseudo labels kept by the thresholds in force (before
      the ``min_pseudo_bbox_wh`` filter of the projection) are recorded in
      ``get_pseudo_instances`` and published by ``loss`` for
      :class:`~cissod.engine.hooks.ClassRebalancingHook`.

    With ``cissod_cfg=dict(gbr=False, gbt=dict(enable=False),
    crs=dict(enable=False))`` and a plain ``loss_cls`` it computes exactly
    what ``SemiBaseDetector`` computes (tests/models/
    test_cissod_mean_teacher.py), plus the per-class pseudo-label counts.
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
        cissod_cfg = dict(cissod_cfg or {})
        # no candidate threshold to take GbT's lower bound from: the
        # reference's 0.5, at most tau (cls_pseudo_thr)
        gbt = dict(cissod_cfg.get('gbt') or {})
        gbt.setdefault('tau_min', min(DEFAULT_TAU_MIN, float(
            self.semi_train_cfg.get('cls_pseudo_thr', 0.9))))
        cissod_cfg['gbt'] = gbt
        self.init_class_imbalance(**cissod_cfg)
        if self.use_gbt:
            # the class thresholds filter the pseudo labels of the whole
            # unsupervised loss; SemiBaseDetector's own filter keeps
            # everything. The detector's copy: the caller's config stays.
            if self.semi_train_cfg is semi_train_cfg:
                self.semi_train_cfg = copy.deepcopy(semi_train_cfg)
            self.semi_train_cfg['cls_pseudo_thr'] = -1.0
            print_log(
                'cissod: GbT filters the pseudo labels of the unsupervised '
                f'loss (tau = cls_pseudo_thr = {self.class_thresholds.tau}, '
                f'tau_min = {self.class_thresholds.tau_min}); '
                "SemiBaseDetector's own cls_pseudo_thr filter is off",
                logger='current')

    def loss_by_pseudo_instances(self,
                                 batch_inputs: Tensor,
                                 batch_data_samples: SampleList,
                                 batch_info: Optional[dict] = None) -> dict:
        """``SemiBaseDetector``'s unsupervised loss (GbR branch
        ``unlabeled``) on the pseudo boxes with ``score > theta_label``."""
        if self.use_gbt:
            batch_data_samples = self.filter_by_class_thresholds(
                batch_data_samples)
        return super().loss_by_pseudo_instances(batch_inputs,
                                                batch_data_samples,
                                                batch_info)
