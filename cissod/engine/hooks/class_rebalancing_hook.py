"""Where the CrS sampler is *updated*: it schedules, syncs, logs, saves.

``ClassRebalancingHook`` connects the kept pseudo labels a
:class:`~cissod.models.detectors.ClassImbalanceMixin` detector publishes
(message hub, ``PSEUDO_LABELS_KEY``) to the draw weights of a
:class:`~cissod.datasets.ClassRebalancingMultiSourceSampler`. The state and
the arithmetic are :class:`cissod_core.crs.ClassRebalancer`'s
(docs/cissod.md); the hook

* builds it in ``before_train`` from the sampler's unlabeled image ids and
  labeled class ids;
* ``after_train_iter`` (from the SSOD warm-up on): records the iteration's
  pseudo labels (one all-gather of fixed shape: every rank holds the
  identical pool, no files on a shared disk);
* every ``interval`` iterations from the end of the SSOD warm-up: recomputes
  the factors of the whole unlabeled set and hands them to the sampler,
  effective ``delay`` batches later (batches already prefetched by the
  DataLoader workers keep the old factors; identical on every rank). Each
  update is logged as a text line and through the message hub:
  ``crs/lambda``, ``crs/image_factor_max`` (largest image factor) and
  ``crs/repeated_share`` (share of the unlabeled images with factor > 1);
* every ``log_interval`` iterations: ``crs/pool_images`` (unlabeled images
  with pseudo labels in the pool);
* checkpoints the rebalancer and the sampler state
  (``checkpoint['cissod_crs']``); ``--resume`` restores them.

With ``cissod_cfg.crs.enable=False`` on the detector the hook does nothing
(the sampler keeps uniform unlabeled weights), so one switch turns CrS off.
"""
from typing import Optional

from mmdet.registry import HOOKS
from mmengine.hooks import Hook

from cissod_core.crs import ClassRebalancer

from ...datasets.samplers import (
    ClassRebalancingMultiSourceSampler,
    loader_sampler,
)
from ...models.detectors import published_pseudo_labels
from .runner_access import class_imbalance_detector

CKPT_KEY = 'cissod_crs'


def _train_sampler(runner) -> ClassRebalancingMultiSourceSampler:
    sampler = loader_sampler(runner.train_dataloader)
    if not isinstance(sampler, ClassRebalancingMultiSourceSampler):
        raise TypeError(
            'ClassRebalancingHook needs train_dataloader.sampler=dict(type='
            "'ClassRebalancingMultiSourceSampler', ...); got "
            f'{type(sampler).__name__}.')
    return sampler


@HOOKS.register_module()
class ClassRebalancingHook(Hook):
    """Class-rebalancing sampling (CrS) of unlabeled images.

    Args:
        interval (int): iterations between factor updates (16000 on COCO and
            LVIS, 36000 on COCO -> O365).
        gamma (float): the cap of lambda (0.5 COCO, 0.05 O365 / LVIS).
        start_iter (int, optional): first iteration of the pool; defaults to
            the detector's ``ssod_warmup_iters``.
        max_classes_per_image (int): K, classes kept per image in the pool.
        delay (int, optional): batches between a factor update and its first
            use; default ``num_workers * prefetch_factor + 1``.
        log_interval (int): iterations between logs of the pool size.
    """

    priority = 'NORMAL'

    def __init__(self,
                 interval: int = 16000,
                 gamma: float = 0.5,
                 start_iter: Optional[int] = None,
                 max_classes_per_image: int = 8,
                 delay: Optional[int] = None,
                 log_interval: int = 50) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        if gamma <= 0:
            raise ValueError(f'gamma must be > 0, got {gamma}')
        self.interval = int(interval)
        self.gamma = float(gamma)
        self.start_iter = start_iter
        self.max_classes_per_image = int(max_classes_per_image)
        self.delay = delay
        self.log_interval = int(log_interval)
        self.rebalancer: Optional[ClassRebalancer] = None
        self._resumed: Optional[dict] = None

    @property
    def enabled(self) -> bool:
        """False when the detector has CrS switched off."""
        return self.rebalancer is not None

    def before_train(self, runner) -> None:
        setup = class_imbalance_detector(runner,
                                         'ClassRebalancingHook').crs_setup()
        if not setup.enabled:
            runner.logger.info('CrS is off (cissod_cfg.crs.enable=False): '
                               'ClassRebalancingHook does nothing')
            return
        self.sampler = _train_sampler(runner)
        self.rebalancer = ClassRebalancer(
            self.sampler.unlabeled_image_ids(),
            self.sampler.labeled_image_class_ids(),
            setup.num_classes,
            gamma=self.gamma,
            max_classes_per_image=self.max_classes_per_image)
        if self._resumed is not None:
            self.rebalancer.load_state_dict(self._resumed)
            runner.logger.info(
                'CrS: resumed a pool of '
                f'{self.rebalancer.pool.num_images_with_labels()} '
                f'pseudo-labelled images (lambda {self.rebalancer.lam:.4f})')
        if self.start_iter is None:
            self.start_iter = setup.start_iter
        if self.delay is None:
            loader = runner.train_dataloader
            prefetch = getattr(loader, 'prefetch_factor', None) or 2
            self.delay = loader.num_workers * prefetch + 1
        runner.logger.info(
            f'CrS: pool of {len(self.rebalancer.pool)} unlabeled images from '
            f'iteration {self.start_iter}, factor update every '
            f'{self.interval} iterations, gamma {self.gamma}, delay '
            f'{self.delay} batches')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        it = runner.iter  # the iteration just run
        if not self.enabled or it < self.start_iter:
            return
        self.rebalancer.record(
            published_pseudo_labels(runner.message_hub),
            self.sampler.unlabeled_per_batch)
        done = it + 1 - self.start_iter
        if done > 0 and done % self.interval == 0:
            self.update_factors(runner)
        if self.every_n_train_iters(runner, self.log_interval):
            runner.message_hub.update_scalar(
                'train/crs/pool_images',
                self.rebalancer.pool.num_images_with_labels())

    def update_factors(self, runner) -> None:
        """Recompute the CrS factors and hand them to the sampler."""
        rb = self.rebalancer
        image_factors = rb.update(runner.iter + 1, runner.max_iters)
        self.sampler.set_unlabeled_weights(
            image_factors, start_batch=runner.iter + 1 + self.delay)
        repeated_share = float((image_factors > 1).double().mean()) \
            if image_factors.numel() else 0.0
        factor_max = float(image_factors.max()) \
            if image_factors.numel() else 0.0
        runner.logger.info(
            f'CrS update at iter {runner.iter + 1}: lambda {rb.lam:.4f}, '
            f'{rb.pool.num_images_with_labels()} pool images, class '
            f'factors max {rb.class_factors.max().item():.3f}, image '
            f'factors > 1: {int((image_factors > 1).sum())} '
            f'(crs/repeated_share {repeated_share:.4f}), '
            f'crs/image_factor_max {factor_max:.3f}')
        hub = runner.message_hub
        hub.update_scalar('train/crs/lambda', rb.lam)
        hub.update_scalar('train/crs/image_factor_max', factor_max)
        hub.update_scalar('train/crs/repeated_share', repeated_share)
        hub.update_scalar('train/crs/num_skipped_boxes',
                          float(rb.num_skipped_boxes))

    # ------------------------------------------------------------------
    # checkpoints

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self.enabled:
            return
        checkpoint[CKPT_KEY] = dict(
            self.rebalancer.state_dict(), sampler=self.sampler.state_dict())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get(CKPT_KEY)
        if state is None or not getattr(runner, '_resume', True):
            return  # load_from (fine-tuning) starts a new pool
        # the rebalancer is built in before_train, which comes later
        self._resumed = state
        if self.rebalancer is not None:
            self.rebalancer.load_state_dict(state)
        # restored now, before the train loop (re)starts its dataloader
        _train_sampler(runner).load_state_dict(state['sampler'])
