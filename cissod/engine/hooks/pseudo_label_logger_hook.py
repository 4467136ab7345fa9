"""Logs the GbT thresholds and the pseudo-label counts per class."""
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS


@HOOKS.register_module()
class PseudoLabelLoggerHook(Hook):
    """Per-class pseudo-label thresholds and counts of a
    :class:`~cissod.models.detectors.ClassImbalanceMixin` detector.

    Every iteration the text log gets ``gbt/thr_min``, ``gbt/thr_max`` and
    ``pseudo/kept`` (RoI-classification pseudo labels kept this iteration);
    every ``log_interval`` iterations the visualizer (JSON / TensorBoard)
    gets ``gbt/thr/<class>`` and ``pseudo/count/<class>`` (cumulative kept
    pseudo labels, summed over ranks).

    Args:
        log_interval (int): iterations between per-class logs.
    """

    priority = 'BELOW_NORMAL'

    def __init__(self, log_interval: int = 50) -> None:
        self.log_interval = int(log_interval)
        self.class_names: Sequence[str] = ()

    def before_train(self, runner) -> None:
        model = self._model(runner)
        if not hasattr(model, 'last_pseudo_labels'):
            raise TypeError('PseudoLabelLoggerHook needs a detector with the '
                            'ClassImbalanceMixin (e.g. CISSODSoftTeacher), '
                            f'got {type(model).__name__}.')
        self.class_names = tuple(
            runner.train_dataloader.dataset.metainfo.get('classes', ()))

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(
            runner.model) else runner.model

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        model = self._model(runner)
        batches = model.last_pseudo_labels
        if not batches:
            return
        thr = batches[-1].thresholds
        hub = runner.message_hub
        hub.update_scalar('train/gbt/thr_min', float(thr.min()))
        hub.update_scalar('train/gbt/thr_max', float(thr.max()))
        hub.update_scalar('train/pseudo/kept',
                          float(sum(int(b.labels.numel()) for b in batches)))
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
