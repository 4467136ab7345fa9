"""Logs the GbT thresholds and the pseudo-label counts per class, and warns
when the teacher keeps no pseudo label for a long time."""
from typing import Optional, Sequence

from mmdet.registry import HOOKS
from mmengine.hooks import Hook

from ...models.detectors import published_pseudo_labels
from .runner_access import class_imbalance_detector


@HOOKS.register_module()
class PseudoLabelLoggerHook(Hook):
    """Per-class pseudo-label thresholds and counts of a
    :class:`~cissod.models.detectors.ClassImbalanceMixin` detector.

    Every iteration the message hub (text log; mmengine's ``LoggerHook``
    also forwards it to the visualizer) gets

    * ``gbt/thr_min``, ``gbt/thr_max``: range of the class thresholds in
      force;
    * ``pseudo/kept``: RoI-classification pseudo boxes kept this iteration
      (this rank);
    * ``pseudo/per_image``: kept pseudo boxes per unlabeled image this
      iteration (this rank);
    * ``pseudo/candidates``: teacher boxes above
      ``pseudo_label_initial_score_thr`` (``CISSODMeanTeacher``: every
      teacher detection) before the class thresholds
      (``PseudoLabelBatch.num_candidates``, summed over ranks).

    Every ``log_interval`` iterations the visualizer (JSON / TensorBoard)
    gets ``gbt/thr/<class>`` and ``pseudo/count/<class>`` (cumulative kept
    pseudo labels, summed over ranks).

    When no rank kept any pseudo box for ``warn_after`` consecutive
    iterations, a WARNING says so once (per streak; the streak ends when
    boxes appear again), with the thresholds in force and what to do.

    Args:
        log_interval (int): iterations between per-class logs.
        warn_after (int): consecutive iterations without any kept pseudo
            box before the warning (0: never warn).
    """

    # before mmengine's LoggerHook (BELOW_NORMAL), so that the text log of
    # an iteration shows that iteration's pseudo labels
    priority = 'NORMAL'

    def __init__(self, log_interval: int = 50, warn_after: int = 200) -> None:
        if warn_after < 0:
            raise ValueError(f'warn_after must be >= 0, got {warn_after}')
        self.log_interval = int(log_interval)
        self.warn_after = int(warn_after)
        self.class_names: Sequence[str] = ()
        self.empty_streak = 0
        self._warned = False
        self._last_total: Optional[int] = None

    def before_train(self, runner) -> None:
        model = class_imbalance_detector(runner, 'PseudoLabelLoggerHook')
        self.class_names = tuple(
            runner.train_dataloader.dataset.metainfo.get('classes', ()))
        self.empty_streak = 0
        self._warned = False
        self._last_total = int(model.pseudo_label_counts.sum())

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        batches = published_pseudo_labels(runner.message_hub)
        if not batches:
            return
        thr = batches[-1].thresholds
        kept = sum(int(b.labels.numel()) for b in batches)
        num_images = sum(len(b.img_ids) for b in batches)
        candidates = sum(int(b.num_candidates.sum()) for b in batches)
        hub = runner.message_hub
        hub.update_scalar('train/gbt/thr_min', float(thr.min()))
        hub.update_scalar('train/gbt/thr_max', float(thr.max()))
        hub.update_scalar('train/pseudo/kept', float(kept))
        hub.update_scalar('train/pseudo/per_image',
                          kept / max(num_images, 1))
        hub.update_scalar('train/pseudo/candidates', float(candidates))
        model = class_imbalance_detector(runner, 'PseudoLabelLoggerHook')
        hub.update_scalar(
            'train/gbt/num_skipped',
            float(model.class_thresholds.score_means.num_skipped))
        self._check_streak(runner, model, thr, candidates)
        if not self.every_n_train_iters(runner, self.log_interval):
            return
        names = self.class_names or tuple(
            str(i) for i in range(thr.numel()))
        scalars = {f'gbt/thr/{c}': float(v) for c, v in zip(names, thr)}
        scalars.update({
            f'pseudo/count/{c}': int(v)
            for c, v in zip(names, model.pseudo_label_counts)
        })
        runner.visualizer.add_scalars(scalars, step=runner.iter + 1)

    def _check_streak(self, runner, model, thr, candidates: int) -> None:
        """Count iterations in which no rank kept a pseudo box (the
        cumulative counts are summed over ranks, so every rank agrees)."""
        total = int(model.pseudo_label_counts.sum())
        last = total if self._last_total is None else self._last_total
        self._last_total = total
        if total > last:
            self.empty_streak = 0
            self._warned = False
            return
        self.empty_streak += 1
        if (self.warn_after <= 0 or self._warned
                or self.empty_streak < self.warn_after):
            return
        self._warned = True
        cfg = model.semi_train_cfg
        init_thr = cfg.get('pseudo_label_initial_score_thr', None)
        cls_thr = model.class_thresholds.tau  # the configured cls_pseudo_thr
        lo, hi = float(thr.min()), float(thr.max())
        in_force = (f'{lo:.3g}' if abs(hi - lo) < 1e-6 else
                    f'{lo:.3g}..{hi:.3g}')
        if candidates == 0:
            cause = ('the teacher has no candidate box above '
                     f'pseudo_label_initial_score_thr={init_thr}'
                     if init_thr is not None else  # CISSODMeanTeacher
                     'the teacher has no detection above its test score_thr')
        else:
            cause = (f'the teacher keeps no pseudo label above the class '
                     f'thresholds in force ({in_force}; cls_pseudo_thr='
                     f'{cls_thr}, pseudo_label_initial_score_thr='
                     f'{init_thr}; {candidates} candidates this iteration)')
        runner.logger.warning(
            f'No pseudo labels: no kept pseudo box for {self.empty_streak} '
            f'consecutive iterations (iteration {runner.iter + 1}): {cause}. '
            'The unlabeled images then train only on background: lower the '
            'thresholds (semi_train_cfg.cls_pseudo_thr / '
            'pseudo_label_initial_score_thr), train the supervised burn-in '
            'longer, or check that load_from points at the burn-in '
            'checkpoint.')
