"""Where GbT thresholds are *applied* and CrS pseudo labels are *recorded*.

:class:`ClassImbalanceMixin` adds the three CISSOD modules to any mmdet
``SemiBaseDetector`` subclass (``class MyDet(ClassImbalanceMixin,
SemiBaseDetector)``); :class:`~.CISSODSoftTeacher` is the Soft Teacher one.

* **GbR branches**: the labeled loss runs in ``gbr_branch('labeled',
  sup_weight)``, the unlabeled loss in ``gbr_branch('unlabeled',
  unsup_weight)``, so that a :class:`GradientBalancedLoss` used as the RoI
  classifier's ``loss_cls`` records each branch's gradient matrix once per
  iteration (Soft Teacher's regression-only pass records nothing, see
  :class:`~.CISSODSoftTeacher`). With a plain ``loss_cls`` this is a no-op.
* **GbT** (DESIGN.md §2.5): every teacher detection kept as a pseudo-label
  candidate (score above ``pseudo_label_initial_score_thr``) updates the
  per-class running mean score
  (:class:`~cissod.models.thresholds.ClassThresholds`, summed over ranks).
  After the SSOD warm-up the RoI-classification pseudo labels of class c
  are kept when ``score > theta_c`` instead of ``score > cls_pseudo_thr``.
* **CrS** (DESIGN.md §2.6): after the SSOD warm-up, the kept pseudo labels
  of every unlabeled image (class, margin = score - theta_c) are published
  in :attr:`last_pseudo_labels`, which
  :class:`~cissod.engine.hooks.ClassRebalancingHook` merges into its pool.

Config (``cissod_cfg`` of the detector)::

    cissod_cfg=dict(
        ssod_warmup_iters=12000,        # GbT and the CrS pool start here
        gbr=True,                       # set GbR branches
        gbt=dict(enable=True, use_score_term=True, use_weight_term=True,
                 exact_count=1000, momentum=0.999),
        crs=dict(enable=True))

The current iteration is read from mmengine's message hub (``'iter'``, set
by ``RuntimeInfoHook`` before every training iteration).
"""
import copy
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.logging import MessageHub
from torch import Tensor

from mmdet.structures import SampleList
from ..losses import find_balancers, gbr_branch
from ..thresholds import ClassThresholds

__all__ = ['ClassImbalanceMixin', 'PseudoLabelBatch']


@dataclass
class PseudoLabelBatch:
    """The RoI-classification pseudo labels the teacher produced for one
    batch of unlabeled images (after GbT), for CrS and logging.

    Attributes:
        img_ids (list[int]): ``B`` image ids (``metainfo['img_id']``).
        box_image (Tensor): ``(M,)`` long, index into ``img_ids`` per box.
        labels (Tensor): ``(M,)`` long class of every kept pseudo box.
        margins (Tensor): ``(M,)`` float32, ``score - theta_label`` (> 0).
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


@contextmanager
def _cfg_override(cfg, **values) -> Iterator[None]:
    """Temporarily set keys of a (Config)dict."""
    old = {k: cfg.get(k) for k in values}
    cfg.update(values)
    try:
        yield
    finally:
        cfg.update(old)


class ClassImbalanceMixin:
    """GbR branches, GbT thresholds and CrS recording for a
    ``SemiBaseDetector`` (see the module docstring).

    Call :meth:`init_class_imbalance` at the end of ``__init__``.
    """

    #: tells :class:`GradientBalanceHook` not to wrap the loss methods again
    sets_gbr_branches = True

    def init_class_imbalance(self,
                             ssod_warmup_iters: int = 0,
                             gbr: bool = True,
                             gbt: Optional[dict] = None,
                             crs: Optional[dict] = None) -> None:
        """Set up the CISSOD modules.

        Args:
            ssod_warmup_iters (int): iteration from which GbT thresholds are
                applied and CrS pseudo labels recorded.
            gbr (bool): run the losses in GbR branches.
            gbt (dict, optional): ``enable`` (default True),
                ``use_score_term``, ``use_weight_term``, ``exact_count``,
                ``momentum`` (see :class:`ClassThresholds`).
            crs (dict, optional): ``enable`` (default True).
        """
        if ssod_warmup_iters < 0:
            raise ValueError('ssod_warmup_iters must be >= 0, got '
                             f'{ssod_warmup_iters}')
        gbt = dict(gbt or {})
        crs = dict(crs or {})
        self.ssod_warmup_iters = int(ssod_warmup_iters)
        self.use_gbr = bool(gbr)
        self.use_gbt = bool(gbt.pop('enable', True))
        self.use_crs = bool(crs.pop('enable', True))
        if crs:
            raise ValueError(f'unknown cissod_cfg.crs keys {sorted(crs)}; '
                             'CrS options belong to ClassRebalancingHook')
        num_classes = self.student.roi_head.bbox_head.num_classes
        cfg = self.semi_train_cfg
        self.class_thresholds = ClassThresholds(
            num_classes,
            tau=float(cfg.get('cls_pseudo_thr', 0.9)),
            tau_min=float(cfg.get('pseudo_label_initial_score_thr', 0.5)),
            **gbt)
        # cumulative kept RoI-classification pseudo labels per class (summed
        # over ranks); a buffer so that checkpoints carry it
        self.register_buffer('pseudo_label_counts',
                             torch.zeros(num_classes, dtype=torch.long))
        self.last_pseudo_labels: List[PseudoLabelBatch] = []

    # ------------------------------------------------------------------
    # state read by the hooks

    @property
    def current_iter(self) -> int:
        """Training iteration from the message hub (0 if unknown)."""
        return int(MessageHub.get_current_instance().get_info('iter', 0))

    @property
    def after_ssod_warmup(self) -> bool:
        """True once GbT / CrS are active."""
        return self.current_iter >= self.ssod_warmup_iters

    def gbr_class_weights(self) -> Optional[Tensor]:
        """Foreground GbR weights ``(n,)`` of the student's classification
        loss, or None without a :class:`GradientBalancedLoss`."""
        balancers = find_balancers(self.student, skip_prefixes=())
        if not balancers:
            return None
        return next(iter(balancers.values())).weights[:-1]

    def current_class_thresholds(self) -> Tensor:
        """``(n,)`` float32 RoI-classification pseudo-label thresholds in
        force now: GbT's after the SSOD warm-up, else ``cls_pseudo_thr``."""
        ct = self.class_thresholds
        if self.use_gbt and self.after_ssod_warmup:
            weights = self.gbr_class_weights() if ct.use_weight_term else None
            return ct.thresholds(weights).float()
        return torch.full((ct.num_classes, ),
                          float(self.semi_train_cfg.cls_pseudo_thr),
                          device=self.pseudo_label_counts.device)

    # ------------------------------------------------------------------
    # SemiBaseDetector overrides

    def loss(self, multi_batch_inputs: dict,
             multi_batch_data_samples: dict) -> dict:
        """SemiBaseDetector's loss; clears :attr:`last_pseudo_labels`."""
        self.last_pseudo_labels = []
        return super().loss(multi_batch_inputs, multi_batch_data_samples)

    def loss_by_gt_instances(self, batch_inputs: Tensor,
                             batch_data_samples: SampleList) -> dict:
        """Labeled loss, in GbR branch ``labeled``."""
        with self._branch('labeled', 'sup_weight'):
            return super().loss_by_gt_instances(batch_inputs,
                                                batch_data_samples)

    def loss_by_pseudo_instances(self,
                                 batch_inputs: Tensor,
                                 batch_data_samples: SampleList,
                                 batch_info: Optional[dict] = None) -> dict:
        """Unlabeled loss, in GbR branch ``unlabeled``."""
        with self._branch('unlabeled', 'unsup_weight'):
            return super().loss_by_pseudo_instances(batch_inputs,
                                                    batch_data_samples,
                                                    batch_info)

    @torch.no_grad()
    def get_pseudo_instances(self, batch_inputs: Tensor,
                             batch_data_samples: SampleList
                             ) -> Tuple[SampleList, Optional[dict]]:
        """Teacher pseudo labels; updates the GbT score statistics and
        publishes the kept pseudo labels (:class:`PseudoLabelBatch`)."""
        samples, batch_info = super().get_pseudo_instances(
            batch_inputs, batch_data_samples)
        if self.training:
            self._record_pseudo_labels(samples)
        return samples, batch_info

    # ------------------------------------------------------------------
    # helpers

    @contextmanager
    def _branch(self, name: str, weight_key: str) -> Iterator[None]:
        if not self.use_gbr:
            yield
            return
        with gbr_branch(name, float(self.semi_train_cfg.get(weight_key,
                                                              1.0))):
            yield

    def _record_pseudo_labels(self, samples: SampleList) -> None:
        """Update score statistics (all ranks) and publish kept labels."""
        ct = self.class_thresholds
        n = ct.num_classes
        device = self.pseudo_label_counts.device
        labels = torch.cat([s.gt_instances.labels for s in samples]).long()
        scores = torch.cat([s.gt_instances.scores for s in samples]).float()
        labels, scores = labels.to(device), scores.to(device)
        thresholds = self.current_class_thresholds().to(device)
        kept = scores > thresholds[labels]
        # one collective: [candidates per class, score sums, kept per class]
        stats = torch.cat([
            torch.bincount(labels, minlength=n).double(),
            torch.zeros(n, dtype=torch.float64, device=device).index_add_(
                0, labels, scores.double()),
            torch.bincount(labels[kept], minlength=n).double()
        ])
        if get_world_size() > 1:
            all_reduce(stats, op='sum')
        counts, sums, kept_counts = stats.view(3, n)
        ct.update_from_sums(counts, sums)
        self.pseudo_label_counts += kept_counts.round().long()
        box_image = torch.cat([
            torch.full((len(s.gt_instances), ), i, dtype=torch.long)
            for i, s in enumerate(samples)
        ]).to(device)
        self.last_pseudo_labels.append(
            PseudoLabelBatch(
                img_ids=[int(s.metainfo['img_id']) for s in samples],
                box_image=box_image[kept],
                labels=labels[kept],
                margins=(scores - thresholds[labels])[kept],
                thresholds=thresholds,
                num_candidates=counts.round().long()))

    def filter_by_class_thresholds(self,
                                   batch_data_samples: SampleList) -> SampleList:
        """Copies of the samples keeping pseudo boxes with
        ``score > theta_label`` (GbT thresholds in force)."""
        samples = copy.deepcopy(batch_data_samples)
        # the thresholds the teacher's pseudo labels of this iteration were
        # published with (computed before this batch updated the statistics)
        thresholds = (self.last_pseudo_labels[-1].thresholds
                      if self.last_pseudo_labels else
                      self.current_class_thresholds())
        for s in samples:
            inst = s.gt_instances
            if len(inst) > 0:
                thr = thresholds.to(inst.scores.device)[inst.labels.long()]
                s.gt_instances = inst[inst.scores > thr]
        return samples

    @contextmanager
    def class_thresholds_in_force(
            self, batch_data_samples: SampleList
    ) -> Iterator[SampleList]:
        """Context for a parent method that filters by ``cls_pseudo_thr``:
        yields the samples filtered by the class thresholds and lets the
        parent's own filter keep everything. Without GbT (or in its warm-up)
        it yields the samples unchanged and changes nothing."""
        if not (self.use_gbt and self.after_ssod_warmup):
            yield batch_data_samples
            return
        samples = self.filter_by_class_thresholds(batch_data_samples)
        with _cfg_override(self.semi_train_cfg, cls_pseudo_thr=-1.0):
            yield samples
