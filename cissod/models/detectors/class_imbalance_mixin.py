"""Where GbT thresholds are *applied* and CrS pseudo labels are *recorded*.

:class:`ClassImbalanceMixin` adds the three CISSOD modules to any mmdet
``SemiBaseDetector`` subclass (``class MyDet(ClassImbalanceMixin,
SemiBaseDetector)``); :class:`~.CISSODSoftTeacher` is the Soft Teacher one,
:class:`~.CISSODMeanTeacher` the ``SemiBaseDetector`` one (hard pseudo
labels, two-stage or one-stage detectors; docs/frameworks.md). The
statements about the RoI head below are Soft Teacher's; the mean teacher's
are in its docstring.

* **GbR**: the losses run in GbR branches (:class:`~.GbRBranchesMixin`);
  ``cissod_cfg.gbr.enable=False`` keeps every class weight at 1 (G is
  still recorded and logged).
* **GbT** (docs/cissod.md): every detection the teacher's RoI head
  returns (its test ``score_thr``, before Soft Teacher's
  ``pseudo_label_initial_score_thr`` filter, as the reference does;
  ``gbt.score_source='detections'``) updates the per-class running mean
  score (:class:`cissod_core.gbt.ClassThresholds`, summed over
  ranks). ``score_source='candidates'`` uses only the detections above
  ``pseudo_label_initial_score_thr`` (an option).
  After the SSOD warm-up the RoI-classification pseudo labels of class c
  are kept when ``score > theta_c`` instead of ``score > cls_pseudo_thr``.
* **CrS** (docs/cissod.md): after the SSOD warm-up, the kept pseudo labels
  of every unlabeled image (class, margin = score - theta_c) are published
  as :class:`~cissod_core.crs.PseudoLabelBatch` es on the message hub
  (:data:`PSEUDO_LABELS_KEY`), which
  :class:`~cissod.engine.hooks.ClassRebalancingHook` merges into its pool.

Config (``cissod_cfg`` of the detector)::

    cissod_cfg=dict(
        ssod_warmup_iters=12000,        # GbT and the CrS pool start here
        gbr=dict(enable=True),          # class weights from G (else 1)
        gbt=dict(enable=True, score_source='detections',
                 use_score_term=True, use_weight_term=True,
                 unseen_classes='floor', exact_count=1000, momentum=0.999),
        crs=dict(enable=True))

The current iteration is read from mmengine's message hub (``'iter'``, set
by ``RuntimeInfoHook`` before every training iteration).
"""
import copy
from typing import List, NamedTuple, Optional, Tuple, Union

import torch
from mmdet.structures import SampleList
from mmengine.dist import all_reduce, get_world_size
from mmengine.logging import MessageHub, print_log
from torch import Tensor

from cissod_core.crs import MARGIN_MODES, PseudoLabelBatch, crs_margins
from cissod_core.gbt import ClassThresholds

from .gbr_branches import GbRBranchesMixin

__all__ = [
    'ClassImbalanceMixin', 'CrSSetup', 'PseudoLabelBatch', 'SCORE_SOURCES',
    'PSEUDO_LABELS_KEY', 'published_pseudo_labels'
]

#: Message-hub runtime info holding this iteration's kept pseudo labels, a
#: ``list[PseudoLabelBatch]`` (one per unlabeled batch, after GbT). The
#: detector writes it in every training iteration; ``ClassRebalancingHook``
#: and ``PseudoLabelLoggerHook`` read it. Not saved in checkpoints.
PSEUDO_LABELS_KEY = 'cissod/pseudo_labels'


class CrSSetup(NamedTuple):
    """What ``ClassRebalancingHook`` takes from the detector."""
    enabled: bool  #: ``cissod_cfg.crs.enable``
    num_classes: int  #: foreground classes n
    start_iter: int  #: first iteration of the pool (the SSOD warm-up)


def published_pseudo_labels(message_hub: MessageHub) -> List[PseudoLabelBatch]:
    """The pseudo labels the detector published in this iteration."""
    return list(message_hub.get_info(PSEUDO_LABELS_KEY, []))


#: Where GbT's running class scores come from: every detection of the
#: teacher's RoI head (the reference) or only the pseudo-label candidates
#: above ``pseudo_label_initial_score_thr``.
SCORE_SOURCES = ('detections', 'candidates')

#: ``cissod_cfg.preset``: the defaults of the GbT and CrS options. Keys set
#: explicitly in ``cissod_cfg.gbt`` / ``cissod_cfg.crs`` win over them.
#: ``'reference'`` is the authors' method; ``'improved'`` adds our options
#: (docs/cissod.md, "Improvements"): a class-adaptive GbT floor down to 0.3
#: and CrS margins normalised by ``1 - theta_c``.
PRESETS = {
    'reference': dict(gbt=dict(), crs=dict()),
    'improved': dict(
        gbt=dict(floor_min=0.3), crs=dict(margin='normalized')),
}


class ClassImbalanceMixin(GbRBranchesMixin):
    """GbR branches, GbT thresholds and CrS recording for a
    ``SemiBaseDetector`` (see the module docstring).

    Call :meth:`init_class_imbalance` at the end of ``__init__``.
    """

    def init_class_imbalance(self,
                             ssod_warmup_iters: int = 0,
                             gbr: Union[bool, dict, None] = None,
                             gbt: Optional[dict] = None,
                             crs: Optional[dict] = None,
                             preset: str = 'reference') -> None:
        """Set up the CISSOD modules.

        Args:
            ssod_warmup_iters (int): iteration from which GbT thresholds are
                applied and CrS pseudo labels recorded.
            gbr (dict | bool, optional): ``enable`` (default True): the
                student's :class:`GradientBalancedLoss` weights the classes;
                with False every weight stays 1 while G is still recorded
                and logged. A bool is ``dict(enable=gbr)``. The losses run
                in GbR branches either way (a no-op with a plain
                ``loss_cls``).
            gbt (dict, optional): ``enable`` (default True),
                ``score_source`` (``'detections'``, the reference, or
                ``'candidates'``), ``detection_score_thr`` (0.05: the
                detections with a higher score feed the class scores, as
                the reference's test ``score_thr``), ``tau_min`` (default
                ``pseudo_label_initial_score_thr``) and the arguments of
                :class:`ClassThresholds` (``use_score_term``,
                ``use_weight_term``, ``unseen_classes``, ``floor_min``,
                ``exact_count``, ``momentum``).
            crs (dict, optional): ``enable`` (default True), ``margin``
                (``'score_minus_threshold'``, the reference, or
                ``'normalized'``, see :func:`crs_margins`).
            preset (str): ``'reference'`` (default) or ``'improved'``
                (:data:`PRESETS`): defaults of the ``gbt`` / ``crs``
                options.

        With a class-adaptive GbT floor below
        ``pseudo_label_initial_score_thr``, that candidate threshold is
        lowered to the floor once, here (Soft Teacher drops every pseudo box
        below it before GbT sees them); GbT's ``tau_min`` and the regression
        pseudo labels keep the configured value.
        """
        if ssod_warmup_iters < 0:
            raise ValueError('ssod_warmup_iters must be >= 0, got '
                             f'{ssod_warmup_iters}')
        if preset not in PRESETS:
            raise ValueError(f'cissod_cfg.preset must be one of '
                             f'{sorted(PRESETS)}, got {preset!r}')
        self.cissod_preset = preset
        gbt = {**PRESETS[preset]['gbt'], **dict(gbt or {})}
        crs = {**PRESETS[preset]['crs'], **dict(crs or {})}
        self.ssod_warmup_iters = int(ssod_warmup_iters)
        gbr = dict(enable=gbr) if isinstance(gbr, bool) else dict(gbr or {})
        self.use_gbr = bool(gbr.pop('enable', True))
        if gbr:
            raise ValueError(
                f'unknown cissod_cfg.gbr keys {sorted(gbr)}; GbR options '
                'belong to the GradientBalancedLoss of the bbox head')
        for loss in self.gbr_losses.values():
            loss.balancer.reweighting = self.use_gbr
        self.use_gbt = bool(gbt.pop('enable', True))
        self.gbt_score_source = gbt.pop('score_source', 'detections')
        self.gbt_detection_score_thr = float(
            gbt.pop('detection_score_thr', 0.05))
        if self.gbt_score_source not in SCORE_SOURCES:
            raise ValueError(
                f'cissod_cfg.gbt.score_source must be one of {SCORE_SOURCES}'
                f', got {self.gbt_score_source!r}')
        self.use_crs = bool(crs.pop('enable', True))
        self.crs_margin = crs.pop('margin', 'score_minus_threshold')
        if self.crs_margin not in MARGIN_MODES:
            raise ValueError(f'cissod_cfg.crs.margin must be one of '
                             f'{MARGIN_MODES}, got {self.crs_margin!r}')
        if crs:
            raise ValueError(f'unknown cissod_cfg.crs keys {sorted(crs)}; '
                             'CrS options belong to ClassRebalancingHook')
        num_classes = self.detector_num_classes()
        cfg = self.semi_train_cfg
        initial_thr = float(cfg.get('pseudo_label_initial_score_thr', 0.5))
        self.class_thresholds = ClassThresholds(
            num_classes,
            tau=float(cfg.get('cls_pseudo_thr', 0.9)),
            tau_min=float(gbt.pop('tau_min', initial_thr)),
            **gbt)
        lowest = self.class_thresholds.lowest_threshold
        # only a detector with a candidate filter (Soft Teacher's
        # pseudo_label_initial_score_thr) has one to lower
        if (self.use_gbt and 'pseudo_label_initial_score_thr' in cfg
                and lowest < initial_thr):
            # the detector's own copy: the caller's config stays as it is
            self.semi_train_cfg = cfg = copy.deepcopy(cfg)
            cfg['pseudo_label_initial_score_thr'] = lowest
            print_log(
                f'cissod: GbT class-adaptive floor down to {lowest}: '
                'pseudo-label candidates are kept from score > '
                f'{lowest} (pseudo_label_initial_score_thr was '
                f'{initial_thr}; regression keeps > {initial_thr})',
                logger='current')
        # cumulative kept RoI-classification pseudo labels per class (summed
        # over ranks); a buffer so that checkpoints carry it
        self.register_buffer('pseudo_label_counts',
                             torch.zeros(num_classes, dtype=torch.long))
        # this iteration's kept pseudo labels (published through the message
        # hub, PSEUDO_LABELS_KEY) and the thresholds they were kept with
        self._pseudo_label_batches: List[PseudoLabelBatch] = []
        self._thresholds_in_force: Optional[Tensor] = None

    def detector_num_classes(self) -> int:
        """Foreground classes of the student: its RoI head's bbox head
        (two-stage) or its dense bbox head (one-stage)."""
        student = self.student
        roi_head = getattr(student, 'roi_head', None)
        head = roi_head.bbox_head if roi_head is not None else \
            student.bbox_head
        return int(head.num_classes)

    # ------------------------------------------------------------------
    # state read by the hooks

    @property
    def current_iter(self) -> int:
        """Training iteration from the message hub (0 if unknown)."""
        return int(MessageHub.get_current_instance().get_info('iter', 0))

    def crs_setup(self) -> CrSSetup:
        """The CrS switch, class count and start for the CrS hook."""
        return CrSSetup(self.use_crs, self.class_thresholds.num_classes,
                        self.ssod_warmup_iters)

    @property
    def after_ssod_warmup(self) -> bool:
        """True once GbT / CrS are active."""
        return self.current_iter >= self.ssod_warmup_iters

    def gbr_class_weights(self) -> Optional[Tensor]:
        """Foreground GbR weights ``(n,)`` of the student's classification
        loss, or None without a :class:`GradientBalancedLoss`."""
        losses = list(self.gbr_losses.values())
        return losses[0].balancer.weights[:-1] if losses else None

    def current_class_thresholds(self) -> Tensor:
        """``(n,)`` float32 RoI-classification pseudo-label thresholds in
        force now: GbT's after the SSOD warm-up, else ``cls_pseudo_thr``."""
        ct = self.class_thresholds
        if self.use_gbt and self.after_ssod_warmup:
            weights = self.gbr_class_weights() if ct.use_weight_term else None
            return ct.thresholds(weights).float()
        return torch.full((ct.num_classes, ), ct.tau,
                          device=self.pseudo_label_counts.device)

    # ------------------------------------------------------------------
    # SemiBaseDetector overrides

    def loss(self, multi_batch_inputs: dict,
             multi_batch_data_samples: dict) -> dict:
        """SemiBaseDetector's loss; publishes the kept pseudo labels of this
        iteration (:data:`PSEUDO_LABELS_KEY`)."""
        self._pseudo_label_batches = []
        self._thresholds_in_force = None
        losses = super().loss(multi_batch_inputs, multi_batch_data_samples)
        MessageHub.get_current_instance().update_info(
            PSEUDO_LABELS_KEY, list(self._pseudo_label_batches),
            resumed=False)
        return losses

    @torch.no_grad()
    def get_pseudo_instances(self, batch_inputs: Tensor,
                             batch_data_samples: SampleList
                             ) -> Tuple[SampleList, Optional[dict]]:
        """Teacher pseudo labels; updates the GbT score statistics and
        publishes the kept pseudo labels (:class:`PseudoLabelBatch`)."""
        samples, batch_info = super().get_pseudo_instances(
            batch_inputs, batch_data_samples)
        if self.training:
            if self.gbt_score_source == 'detections':
                det_labels, det_scores = self.teacher_detections(
                    samples, batch_info)
                keep = det_scores > self.gbt_detection_score_thr
                det_labels, det_scores = det_labels[keep], det_scores[keep]
            else:
                det_labels, det_scores = self._candidates(samples)
            self._record_pseudo_labels(samples, det_labels, det_scores)
        return samples, batch_info

    def teacher_detections(self, samples: SampleList,
                           batch_info: Optional[dict]
                           ) -> Tuple[Tensor, Tensor]:
        """Labels ``(D,)`` and scores ``(D,)`` of every detection the
        teacher returned for this batch, before any pseudo-label filter.

        ``SemiBaseDetector`` keeps the teacher's predictions unfiltered, so
        they are the pseudo instances themselves; a detector that filters
        them in ``get_pseudo_instances`` (Soft Teacher) overrides this.
        """
        return self._candidates(samples)

    @staticmethod
    def _candidates(samples: SampleList) -> Tuple[Tensor, Tensor]:
        """Labels and scores of the pseudo instances of ``samples``."""
        return (torch.cat([s.gt_instances.labels for s in samples]).long(),
                torch.cat([s.gt_instances.scores for s in samples]).float())

    # ------------------------------------------------------------------
    # helpers

    def _record_pseudo_labels(self, samples: SampleList, det_labels: Tensor,
                              det_scores: Tensor) -> None:
        """Update score statistics (all ranks) and publish kept labels.

        Args:
            samples (list[DetDataSample]): the pseudo-label candidates.
            det_labels (Tensor): ``(D,)`` classes of the detections that
                feed GbT's running class scores.
            det_scores (Tensor): ``(D,)`` their scores.
        """
        ct = self.class_thresholds
        n = ct.num_classes
        device = self.pseudo_label_counts.device
        labels, scores = self._candidates(samples)
        labels, scores = labels.to(device), scores.to(device)
        det_labels = det_labels.to(device).long()
        det_scores = det_scores.to(device).double()
        thresholds = self.current_class_thresholds().to(device)
        kept = scores > thresholds[labels]
        # one collective: [candidates per class, kept per class,
        #                  detections per class, their score sums]
        stats = torch.cat([
            torch.bincount(labels, minlength=n).double(),
            torch.bincount(labels[kept], minlength=n).double(),
            torch.bincount(det_labels, minlength=n).double(),
            torch.zeros(n, dtype=torch.float64, device=device).index_add_(
                0, det_labels, det_scores)
        ])
        if get_world_size() > 1:
            all_reduce(stats, op='sum')
        counts, kept_counts, det_counts, det_sums = stats.view(4, n)
        ct.update_from_sums(det_counts, det_sums)
        self.pseudo_label_counts += kept_counts.round().long()
        box_image = torch.cat([
            torch.full((len(s.gt_instances), ), i, dtype=torch.long)
            for i, s in enumerate(samples)
        ]).to(device)
        self._thresholds_in_force = thresholds
        self._pseudo_label_batches.append(
            PseudoLabelBatch(
                img_ids=[int(s.metainfo['img_id']) for s in samples],
                box_image=box_image[kept],
                labels=labels[kept],
                margins=crs_margins(scores, thresholds[labels],
                                    self.crs_margin)[kept],
                thresholds=thresholds,
                num_candidates=counts.round().long()))

    def filter_by_class_thresholds(self,
                                   batch_data_samples: SampleList
                                   ) -> SampleList:
        """Copies of the samples keeping pseudo boxes with
        ``score > theta_label`` (GbT thresholds in force)."""
        samples = copy.deepcopy(batch_data_samples)
        # the thresholds the teacher's pseudo labels of this iteration were
        # kept with (computed before this batch updated the statistics)
        thresholds = (self._thresholds_in_force
                      if self._thresholds_in_force is not None else
                      self.current_class_thresholds())
        for s in samples:
            inst = s.gt_instances
            if len(inst) > 0:
                thr = thresholds.to(inst.scores.device)[inst.labels.long()]
                s.gt_instances = inst[inst.scores > thr]
        return samples

    def candidates_above_floor(self,
                               batch_data_samples: SampleList) -> SampleList:
        """The samples as they are, or, when GbT's class-adaptive floor
        lets pseudo boxes below ``tau_min`` through, copies keeping only the
        boxes with ``score > tau_min`` (for the losses GbT does not act on).
        """
        ct = self.class_thresholds
        if ct.floor_min is None:
            return batch_data_samples
        samples = copy.deepcopy(batch_data_samples)
        for s in samples:
            inst = s.gt_instances
            if len(inst) > 0:
                s.gt_instances = inst[inst.scores > ct.tau_min]
        return samples
