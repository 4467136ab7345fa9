"""``ClassRebalancer``: all CrS state, from pseudo labels to image factors.

One object holds what class-rebalancing sampling accumulates and computes
(docs/cissod.md):

* :meth:`ClassRebalancer.record`: the kept pseudo labels of an iteration
  (:class:`~.pseudo_labels.PseudoLabelBatch`) become pool rows (unique
  classes, max margin per class) and are merged into the
  :class:`~.pseudo_label_pool.PseudoLabelPool`, over all ranks when
  ``torch.distributed`` is initialised (one all-gather), so every rank
  holds the identical pool;
* :meth:`ClassRebalancer.update`: ``lam = min(gamma * t / T, gamma)``, the
  class factors ``r_c`` over the labeled + pseudo-labeled images and the
  image factors ``r(I)`` of the whole unlabeled set
  (:func:`~.class_rebalancing.compute_crs_factors`).

The hook of the mmdet glue only schedules these calls, hands the image
factors to the sampler and checkpoints :meth:`state_dict`.
"""
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import Tensor

from .class_rebalancing import compute_crs_factors, crs_lambda
from .pseudo_label_pool import PseudoLabelPool, boxes_to_rows
from .pseudo_labels import PseudoLabelBatch
from .repeat_factors import class_image_counts

__all__ = ['ClassRebalancer']


class ClassRebalancer:
    """The CrS pool, the labeled class counts and the current factors.

    Args:
        unlabeled_img_ids (Sequence[int]): image id of every unlabeled image,
            in the order of the unlabeled dataset (row i of the pool).
        labeled_image_class_ids (Sequence[Sequence[int]]): class indices of
            every labeled image's boxes (for ``f_c``).
        num_classes (int): n, foreground classes.
        gamma (float): the cap of lambda (0.5 COCO, 0.05 O365 / LVIS).
        max_classes_per_image (int): K, classes kept per image in the pool.
    """

    def __init__(self,
                 unlabeled_img_ids: Sequence[int],
                 labeled_image_class_ids: Sequence[Sequence[int]],
                 num_classes: int,
                 gamma: float = 0.5,
                 max_classes_per_image: int = 8) -> None:
        if gamma <= 0:
            raise ValueError(f'gamma must be > 0, got {gamma}')
        self.gamma = float(gamma)
        self.max_classes_per_image = int(max_classes_per_image)
        self.row_of_image: Dict[int, int] = {
            int(img_id): i
            for i, img_id in enumerate(unlabeled_img_ids)
        }
        self.labeled_class_images = class_image_counts(
            labeled_image_class_ids, num_classes)
        self.num_labeled_images = len(labeled_image_class_ids)
        self.pool = PseudoLabelPool(
            len(unlabeled_img_ids), num_classes, self.max_classes_per_image)
        self.lam = 0.0
        self.class_factors: Optional[Tensor] = None
        #: pseudo-label boxes left out because their margin was not finite
        self.num_skipped_boxes = 0

    def record(self, batches: Sequence[PseudoLabelBatch],
               rows_per_batch: int) -> None:
        """Merge one iteration's pseudo labels into the pool (collective).

        Every rank must call it once per iteration, also with no batches.

        Args:
            batches (list[PseudoLabelBatch]): this rank's kept pseudo labels
                of the iteration.
            rows_per_batch (int): unlabeled images per batch (the padding of
                the all-gather: identical on every rank).

        Raises:
            KeyError: a pseudo-labelled image is not an unlabeled image.
        """
        K = self.max_classes_per_image
        index_list: List[Tensor] = []
        class_list: List[Tensor] = []
        margin_list: List[Tensor] = []
        for b in batches:
            missing = [i for i in b.img_ids if i not in self.row_of_image]
            if missing:
                raise KeyError(
                    f'pseudo-labelled images {missing[:5]} are not images of '
                    'the unlabeled dataset of the CrS sampler.')
            image_index = torch.tensor(
                [self.row_of_image[i] for i in b.img_ids], dtype=torch.long)
            box_margins = b.margins.cpu()
            finite = torch.isfinite(box_margins)
            self.num_skipped_boxes += int((~finite).sum())
            classes, margins = boxes_to_rows(
                image_index, b.box_image.cpu()[finite],
                b.labels.cpu()[finite], box_margins[finite], K)
            index_list.append(image_index)
            class_list.append(classes)
            margin_list.append(margins)
        if index_list:
            indices = torch.cat(index_list)
            classes = torch.cat(class_list)
            margins = torch.cat(margin_list)
        else:
            indices = torch.empty(0, dtype=torch.long)
            classes = torch.empty((0, K), dtype=torch.int16)
            margins = torch.empty((0, K), dtype=torch.float32)
        pad_to = max(rows_per_batch * max(len(batches), 1), len(indices))
        self.pool.sync_and_update(indices, classes, margins, pad_to)

    def update(self, iteration: int, max_iters: int) -> Tensor:
        """Recompute lambda and the factors at ``iteration`` (1-based count
        of trained iterations) of ``max_iters``.

        Returns:
            Tensor: ``(N,)`` float64 image factors ``r(I) >= 1`` of the
            unlabeled images.
        """
        self.lam = crs_lambda(iteration, max_iters, self.gamma)
        self.class_factors, image_factors = compute_crs_factors(
            self.pool, self.labeled_class_images, self.num_labeled_images,
            self.lam)
        return image_factors

    # ------------------------------------------------------------------
    # checkpoints

    def state_dict(self) -> Dict[str, Any]:
        """The pool, the class factors, lambda and the skipped-box count."""
        return dict(pool=self.pool.state_dict(),
                    class_factors=self.class_factors,
                    lam=self.lam,
                    num_skipped_boxes=self.num_skipped_boxes)

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (same unlabeled set and K).

        Raises:
            ValueError: the saved pool was built for another unlabeled set.
        """
        pool = state['pool']
        if int(pool['num_images']) != len(self.pool):
            raise ValueError(
                f'the resumed CrS pool has {pool["num_images"]} images but '
                f'the unlabeled dataset has {len(self.pool)}: resume with '
                'the same unlabeled split.')
        self.pool.load_state_dict(pool)
        self.class_factors = state['class_factors']
        self.lam = float(state['lam'])
        # absent from checkpoints written before the counter
        self.num_skipped_boxes = int(state.get('num_skipped_boxes', 0))
