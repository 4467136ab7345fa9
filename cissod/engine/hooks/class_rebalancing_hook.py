"""Where the CrS sampler is *updated*: pool of pseudo labels -> image factors.

``ClassRebalancingHook`` connects a :class:`ClassImbalanceMixin` detector
(which publishes the kept pseudo labels of every unlabeled batch) to a
:class:`ClassRebalancingMultiSourceSampler` (which draws unlabeled images in
proportion to their CrS factors), docs/cissod.md:

* ``after_train_iter`` (after the SSOD warm-up): the batch's pseudo labels
  become pool rows (unique classes, max margin per class) and are
  all-gathered, so every rank holds the identical pool (one small collective
  of fixed shape per iteration, no files on a shared disk).
* every ``interval`` iterations from the end of the SSOD warm-up: the
  factors of the whole unlabeled set are recomputed (vectorised,
  :func:`compute_crs_factors`) with ``lam = min(gamma * t / T, gamma)`` and
  handed to the sampler, effective ``delay`` batches later (batches already
  prefetched by the DataLoader workers keep the old factors; identical on
  every rank). Each update is logged as a text line and through the
  message hub: ``crs/lambda``, ``crs/image_factor_max`` (largest image
  factor) and ``crs/repeated_share`` (share of the unlabeled images with
  factor > 1, i.e. drawn more often than uniformly).
* every ``log_interval`` iterations: ``crs/pool_images`` (unlabeled images
  with pseudo labels in the pool).
* checkpoints carry the pool, the class factors and the sampler state
  (``checkpoint['cissod_crs']``); ``--resume`` restores them.
"""
from typing import Dict, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

from ...datasets.samplers import (ClassRebalancingMultiSourceSampler,
                                  PseudoLabelPool, boxes_to_rows,
                                  compute_crs_factors, crs_lambda)

CKPT_KEY = 'cissod_crs'


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def _train_sampler(runner):
    loader = runner.train_dataloader
    sampler = getattr(loader, 'sampler', None)
    if not isinstance(sampler, ClassRebalancingMultiSourceSampler):
        batch_sampler = getattr(loader, 'batch_sampler', None)
        sampler = getattr(batch_sampler, 'sampler', None)
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
        self.pool: Optional[PseudoLabelPool] = None
        self.class_factors: Optional[torch.Tensor] = None
        self.lam = 0.0
        self._img_id_to_index: Dict[int, int] = {}

    # ------------------------------------------------------------------

    def before_train(self, runner) -> None:
        model = _unwrap(runner.model)
        if not hasattr(model, 'last_pseudo_labels'):
            raise TypeError(
                'ClassRebalancingHook needs a detector with the '
                'ClassImbalanceMixin (e.g. CISSODSoftTeacher) that publishes '
                f'its pseudo labels; got {type(model).__name__}.')
        if not model.use_crs:
            raise ValueError('ClassRebalancingHook is configured but the '
                             'detector has cissod_cfg.crs.enable=False: '
                             'remove the hook or enable CrS.')
        self.sampler = _train_sampler(runner)
        datasets = runner.train_dataloader.dataset.datasets
        labeled = datasets[0]
        unlabeled = datasets[self.sampler.crs_source]
        num_classes = model.class_thresholds.num_classes
        self.labeled_class_images = torch.zeros(num_classes, dtype=torch.long)
        for i in range(len(labeled)):
            cats = sorted(set(int(c) for c in labeled.get_cat_ids(i)))
            self.labeled_class_images[cats] += 1
        self.num_labeled_images = len(labeled)
        self._img_id_to_index = {
            int(unlabeled.get_data_info(i)['img_id']): i
            for i in range(len(unlabeled))
        }
        if self.pool is None:
            self.pool = PseudoLabelPool(len(unlabeled), num_classes,
                                        self.max_classes_per_image)
        elif len(self.pool) != len(unlabeled):
            raise ValueError(
                f'the resumed CrS pool has {len(self.pool)} images but the '
                f'unlabeled dataset has {len(unlabeled)}: resume with the '
                'same unlabeled split.')
        if self.start_iter is None:
            self.start_iter = model.ssod_warmup_iters
        if self.delay is None:
            loader = runner.train_dataloader
            prefetch = getattr(loader, 'prefetch_factor', None) or 2
            self.delay = loader.num_workers * prefetch + 1
        self.rows_per_rank = self.sampler.num_per_source[
            self.sampler.crs_source]
        runner.logger.info(
            f'CrS: pool of {len(self.pool)} unlabeled images from iteration '
            f'{self.start_iter}, factor update every {self.interval} '
            f'iterations, gamma {self.gamma}, delay {self.delay} batches')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        it = runner.iter  # the iteration just run
        if it < self.start_iter:
            return
        self._record(_unwrap(runner.model))
        done = it + 1 - self.start_iter
        if done > 0 and done % self.interval == 0:
            self.update_factors(runner)
        if self.every_n_train_iters(runner, self.log_interval):
            runner.message_hub.update_scalar(
                'train/crs/pool_images', self.pool.num_images_with_labels())

    def _record(self, model) -> None:
        """Pool rows of this iteration's pseudo labels, merged over ranks."""
        batches = model.last_pseudo_labels
        index_list, class_list, margin_list = [], [], []
        for b in batches:
            image_index = torch.tensor(
                [self._img_id_to_index.get(i, -1) for i in b.img_ids],
                dtype=torch.long)
            if (image_index < 0).any():
                missing = [i for i in b.img_ids
                           if i not in self._img_id_to_index]
                raise KeyError(
                    f'pseudo-labelled images {missing[:5]} are not in the '
                    'unlabeled dataset of the CrS sampler (source '
                    f'{self.sampler.crs_source}).')
            classes, margins = boxes_to_rows(
                image_index, b.box_image.cpu(), b.labels.cpu(),
                b.margins.cpu(), self.max_classes_per_image)
            index_list.append(image_index)
            class_list.append(classes)
            margin_list.append(margins)
        K = self.max_classes_per_image
        if index_list:
            indices = torch.cat(index_list)
            classes = torch.cat(class_list)
            margins = torch.cat(margin_list)
        else:
            indices = torch.empty(0, dtype=torch.long)
            classes = torch.empty((0, K), dtype=torch.int16)
            margins = torch.empty((0, K), dtype=torch.float32)
        pad_to = max(self.rows_per_rank * max(len(batches), 1),
                     len(indices))
        self.pool.sync_and_update(indices, classes, margins, pad_to)

    def update_factors(self, runner) -> None:
        """Recompute the CrS factors and hand them to the sampler."""
        self.lam = crs_lambda(runner.iter + 1, runner.max_iters, self.gamma)
        self.class_factors, image_factors = compute_crs_factors(
            self.pool, self.labeled_class_images, self.num_labeled_images,
            self.lam)
        self.sampler.set_source_weights(
            self.sampler.crs_source, image_factors,
            start_batch=runner.iter + 1 + self.delay)
        repeated_share = float((image_factors > 1).double().mean()) \
            if image_factors.numel() else 0.0
        factor_max = float(image_factors.max()) \
            if image_factors.numel() else 0.0
        runner.logger.info(
            f'CrS update at iter {runner.iter + 1}: lambda {self.lam:.4f}, '
            f'{self.pool.num_images_with_labels()} pool images, class '
            f'factors max {self.class_factors.max().item():.3f}, image '
            f'factors > 1: {int((image_factors > 1).sum())} '
            f'(crs/repeated_share {repeated_share:.4f}), '
            f'crs/image_factor_max {factor_max:.3f}')
        hub = runner.message_hub
        hub.update_scalar('train/crs/lambda', self.lam)
        hub.update_scalar('train/crs/image_factor_max', factor_max)
        hub.update_scalar('train/crs/repeated_share', repeated_share)

    # ------------------------------------------------------------------
    # checkpoints

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.pool is None:
            return
        checkpoint[CKPT_KEY] = dict(
            pool=self.pool.state_dict(),
            class_factors=self.class_factors,
            lam=self.lam,
            sampler=self.sampler.state_dict())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get(CKPT_KEY)
        if state is None or not getattr(runner, '_resume', True):
            return  # load_from (fine-tuning) starts a new pool
        pool = state['pool']
        self.pool = PseudoLabelPool(pool['num_images'], pool['num_classes'],
                                    pool['max_classes_per_image'])
        self.pool.load_state_dict(pool)
        self.class_factors = state['class_factors']
        self.lam = float(state['lam'])
        # restored now, before the train loop (re)starts its dataloader
        _train_sampler(runner).load_state_dict(state['sampler'])
        runner.logger.info(
            f'CrS: resumed a pool of {self.pool.num_images_with_labels()} '
            f'pseudo-labelled images (lambda {self.lam:.4f})')
