"""Per-image pseudo-label summary of the unlabeled set, for CrS (§2.6).

After the SSOD warm-up, every training iteration the teacher's kept pseudo
boxes (score >= theta_c, margin = score - theta_c >= 0) of the unlabeled
batch are recorded here. CrS only needs, per image:

* which classes the image has pseudo boxes of (for the class image counts
  behind ``f_c``), and
* ``max over its boxes of r_c * margin`` for the image factor ``r(I)``.

Since ``r_c >= 1 > 0`` and margins are ``>= 0``, ``r_c * margin`` is
increasing in the margin, so

    max over boxes b of r_{c_b} * margin_b
        = max over classes c of r_c * (max margin of the boxes of class c),

i.e. the unique classes of an image with the maximum margin of each class
determine both quantities exactly. That is what one row of the pool holds:
a fixed-width ``(K,)`` row of classes (int16, ``-1`` = empty slot) and
margins (float32, 0 in empty slots), ordered by margin, largest first.

Truncation: an image with more than K distinct pseudo-label classes keeps
the K classes with the largest margins (ties: smaller class id first). The
dropped classes are then missing from that image's class counts and from
its ``r(I)`` (they had the smallest margins; with very different ``r_c``
this can under-estimate ``r(I)``). Choose K above the usual number of
distinct confident classes per image (8 by default; pseudo-label
thresholds of 0.9 rarely keep more).

The pool is a plain Python object holding CPU tensors (not an
``nn.Module``): at Objects365 scale (1.7 M images, K = 8) it takes
``1.7e6 * 8 * (2 + 4)`` bytes = 82 MB. Every rank holds an identical copy:
:meth:`PseudoLabelPool.sync_and_update`, called on every rank at every
iteration, all-gathers the batch rows of all ranks and applies them in rank
order.
"""
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor

__all__ = ['PseudoLabelPool', 'boxes_to_rows']

_INT16_MAX = 32767


def _check_rows(image_indices: Tensor, classes: Tensor, margins: Tensor,
                k: Optional[int] = None) -> None:
    """Check the shapes of a batch: ``(B,)``, ``(B, K)``, ``(B, K)``."""
    if image_indices.dim() != 1:
        raise ValueError('image_indices must be (B,), got '
                         f'{tuple(image_indices.shape)}')
    b = image_indices.shape[0]
    if classes.dim() != 2 or classes.shape[0] != b:
        raise ValueError(f'classes must be ({b}, K), got '
                         f'{tuple(classes.shape)}')
    if margins.shape != classes.shape:
        raise ValueError(f'margins {tuple(margins.shape)} and classes '
                         f'{tuple(classes.shape)} differ in shape')
    if k is not None and classes.shape[1] != k:
        raise ValueError(f'rows have {classes.shape[1]} slots, the pool '
                         f'holds max_classes_per_image={k}')


def _last_occurrence(indices: Tensor) -> Tensor:
    """Positions of the last occurrence of every distinct value.

    Args:
        indices (Tensor): ``(B,)`` integer values.

    Returns:
        Tensor: ``(U,)`` long positions into ``indices``, one per distinct
        value (in ascending order of the values).
    """
    uniq, inverse = torch.unique(indices, return_inverse=True)
    pos = torch.arange(indices.numel(), device=indices.device)
    last = torch.full((uniq.numel(), ), -1, dtype=torch.long,
                      device=indices.device)
    return last.scatter_reduce_(0, inverse, pos, reduce='amax')


def _unique_class_max_margin(
        box_image: Tensor, box_classes: Tensor,
        box_margins: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Reduce boxes to unique ``(image, class)`` pairs with the max margin.

    Args:
        box_image (Tensor): ``(M,)`` long batch position of every box.
        box_classes (Tensor): ``(M,)`` long class of every box (>= 0).
        box_margins (Tensor): ``(M,)`` float32 margins.

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``(P,)`` batch positions, classes
        and max margins of the distinct pairs, sorted by (position, class).
    """
    span = int(box_classes.max()) + 1
    key = box_image * span + box_classes
    uniq, inverse = torch.unique(key, return_inverse=True)
    best = torch.full((uniq.numel(), ), float('-inf'), dtype=box_margins.dtype)
    best.scatter_reduce_(0, inverse, box_margins, reduce='amax')
    return uniq // span, uniq % span, best


def boxes_to_rows(image_ids: Tensor, box_image: Tensor, box_classes: Tensor,
                  box_margins: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """Turn the kept pseudo boxes of a batch into pool rows (vectorised).

    Every row holds the unique classes of one image's boxes, each with the
    maximum margin of its boxes, ordered by margin (largest first; ties:
    smaller class first), truncated to the ``k`` largest margins. Images
    without boxes get an empty row (classes ``-1``, margins 0). Boxes with a
    negative class or a batch position outside ``[0, B)`` are ignored.

    Args:
        image_ids (Tensor): ``(B,)`` dataset indices of the batch images;
            only ``B`` is used here (pass the same tensor to
            :meth:`PseudoLabelPool.update`).
        box_image (Tensor): ``(M,)`` batch position in ``[0, B)`` of every
            box (an index into ``image_ids``, not a dataset index).
        box_classes (Tensor): ``(M,)`` class of every box, in ``[0, n)``.
        box_margins (Tensor): ``(M,)`` ``score - threshold`` of every box
            (>= 0 for kept boxes); reduced in float32.
        k (int): slots per row (``max_classes_per_image``).

    Returns:
        tuple[Tensor, Tensor]: ``classes`` ``(B, k)`` int16 and ``margins``
        ``(B, k)`` float32, CPU tensors.
    """
    num_rows = int(image_ids.numel())
    if k < 1:
        raise ValueError(f'k must be >= 1, got {k}')
    if not box_image.numel() == box_classes.numel() == box_margins.numel():
        raise ValueError(f'{box_image.numel()} box images, '
                         f'{box_classes.numel()} classes and '
                         f'{box_margins.numel()} margins differ in number')
    classes = torch.full((num_rows, k), -1, dtype=torch.int16)
    margins = torch.zeros((num_rows, k), dtype=torch.float32)
    pos = box_image.detach().reshape(-1).cpu().long()
    cls = box_classes.detach().reshape(-1).cpu().long()
    mrg = box_margins.detach().reshape(-1).cpu().to(torch.float32)
    keep = (cls >= 0) & (pos >= 0) & (pos < num_rows)
    if not bool(keep.any()):
        return classes, margins
    if int(cls.max()) > _INT16_MAX:
        raise ValueError(f'class {int(cls.max())} does not fit int16')
    pos, cls, best = _unique_class_max_margin(pos[keep], cls[keep], mrg[keep])
    # order by (position asc, margin desc, class asc): stable sorts, last key
    # first (pairs are already sorted by class within a position)
    order = torch.sort(best, descending=True, stable=True).indices
    order = order[torch.sort(pos[order], stable=True).indices]
    pos, cls, best = pos[order], cls[order], best[order]
    counts = torch.bincount(pos, minlength=num_rows)
    first = torch.cumsum(counts, 0) - counts  # first pair of every row
    slot = torch.arange(pos.numel()) - first[pos]
    fit = slot < k
    classes[pos[fit], slot[fit]] = cls[fit].to(torch.int16)
    margins[pos[fit], slot[fit]] = best[fit]
    return classes, margins


class PseudoLabelPool:
    """Unique pseudo-label classes and max margins of every unlabeled image.

    Storage (module docstring): ``classes`` ``(N, K)`` int16, ``-1`` = empty
    slot, and ``margins`` ``(N, K)`` float32, 0 in empty slots; row i is
    unlabeled image i of the dataset (its index in the unlabeled source).
    All-empty rows are images without pseudo labels (never seen, or seen
    with no confident box).

    Args:
        num_images (int): N, number of images of the unlabeled dataset.
        num_classes (int): n, number of foreground classes (<= 32767).
        max_classes_per_image (int): K, slots per row (see the truncation
            note in the module docstring).
    """

    def __init__(self,
                 num_images: int,
                 num_classes: int,
                 max_classes_per_image: int = 8) -> None:
        if num_images < 0:
            raise ValueError(f'num_images must be >= 0, got {num_images}')
        if not 0 < num_classes <= _INT16_MAX:
            raise ValueError(f'num_classes must be in [1, {_INT16_MAX}], got '
                             f'{num_classes}')
        if max_classes_per_image < 1:
            raise ValueError('max_classes_per_image must be >= 1, got '
                             f'{max_classes_per_image}')
        self.num_images = int(num_images)
        self.num_classes = int(num_classes)
        self.max_classes_per_image = int(max_classes_per_image)
        shape = (self.num_images, self.max_classes_per_image)
        self.classes = torch.full(shape, -1, dtype=torch.int16)
        self.margins = torch.zeros(shape, dtype=torch.float32)

    # ------------------------------------------------------------------
    # recording

    boxes_to_rows = staticmethod(boxes_to_rows)

    def _validate(self, indices: Tensor, classes: Tensor) -> None:
        """Range checks of indices (``-1`` or ``[0, N)``) and classes."""
        if indices.numel() and (int(indices.min()) < -1
                                or int(indices.max()) >= self.num_images):
            raise IndexError(f'image indices must be -1 (padding) or in [0, '
                             f'{self.num_images}), got [{int(indices.min())}, '
                             f'{int(indices.max())}]')
        if classes.numel() and (int(classes.min()) < -1
                                or int(classes.max()) >= self.num_classes):
            raise ValueError(f'classes must be -1 (empty) or in [0, '
                             f'{self.num_classes}), got [{int(classes.min())}'
                             f', {int(classes.max())}]')

    @torch.no_grad()
    def update(self, image_indices: Tensor, classes: Tensor,
               margins: Tensor) -> int:
        """Replace the rows of the given images (latest teacher view wins).

        Rows whose image index is ``-1`` are padding and ignored. If an index
        appears more than once, the last of its rows wins (as if the rows
        were applied one after the other). Margins of empty slots are
        stored as 0.

        Args:
            image_indices (Tensor): ``(B,)`` dataset indices, ``-1`` =
                padding.
            classes (Tensor): ``(B, K)`` classes, ``-1`` = empty slot.
            margins (Tensor): ``(B, K)`` margins.

        Returns:
            int: number of pool rows written.
        """
        _check_rows(image_indices, classes, margins,
                    self.max_classes_per_image)
        idx = image_indices.detach().cpu().long()
        cls = classes.detach().cpu()
        self._validate(idx, cls)
        valid = (idx >= 0).nonzero().squeeze(1)
        if valid.numel() == 0:
            return 0
        last = valid[_last_occurrence(idx[valid])]
        cls = cls[last].to(torch.int16)
        mrg = margins.detach().cpu()[last].to(torch.float32)
        mrg = torch.where(cls >= 0, mrg, torch.zeros_like(mrg))
        rows = idx[last]
        self.classes[rows] = cls
        self.margins[rows] = mrg
        return int(rows.numel())

    # ------------------------------------------------------------------
    # synchronisation across ranks

    @staticmethod
    def pack_rows(image_indices: Tensor, classes: Tensor, margins: Tensor,
                  pad_to: int) -> Tensor:
        """Fixed-shape encoding of a batch of rows, for ``all_gather``.

        float64 holds the indices (< 2^53), int16 classes and float32
        margins exactly.

        Args:
            image_indices (Tensor): ``(B,)`` dataset indices (``-1`` =
                padding).
            classes (Tensor): ``(B, K)`` classes.
            margins (Tensor): ``(B, K)`` margins.
            pad_to (int): number of rows of the result, ``>= B``; extra rows
                are padding (index -1, classes -1, margins 0).

        Returns:
            Tensor: ``(pad_to, 1 + 2K)`` float64: ``[index, classes...,
            margins...]`` per row, on the device of ``classes``.
        """
        _check_rows(image_indices, classes, margins)
        b, k = classes.shape
        if b > pad_to:
            raise ValueError(f'{b} rows do not fit pad_to={pad_to}')
        packed = torch.zeros((pad_to, 1 + 2 * k), dtype=torch.float64,
                             device=classes.device)
        packed[:, :1 + k] = -1
        packed[:b, 0] = image_indices.detach().to(packed)
        packed[:b, 1:1 + k] = classes.detach().to(packed)
        packed[:b, 1 + k:] = margins.detach().to(packed)
        return packed

    @staticmethod
    def unpack_rows(packed: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Inverse of :meth:`pack_rows` (padding rows included).

        Args:
            packed (Tensor): ``(R, 1 + 2K)`` float64.

        Returns:
            tuple[Tensor, Tensor, Tensor]: ``indices`` ``(R,)`` long,
            ``classes`` ``(R, K)`` int16, ``margins`` ``(R, K)`` float32, on
            the CPU.
        """
        if packed.dim() != 2 or packed.shape[1] % 2 != 1:
            raise ValueError('packed rows must be (R, 1 + 2K), got '
                             f'{tuple(packed.shape)}')
        packed = packed.detach().cpu()
        k = (packed.shape[1] - 1) // 2
        return (packed[:, 0].long(), packed[:, 1:1 + k].to(torch.int16),
                packed[:, 1 + k:].to(torch.float32))

    @torch.no_grad()
    def sync_and_update(self, image_indices: Tensor, classes: Tensor,
                        margins: Tensor, pad_to: int,
                        group: Optional[Any] = None) -> int:
        """Apply the batch rows of every rank, in rank order, on every rank.

        Collective: when ``torch.distributed`` is initialised with more than
        one process, every rank of ``group`` must call it at the same point,
        e.g. once per training iteration (with no rows if it has none). The
        ranks first agree on the number of rows per rank, ``max over ranks of
        max(pad_to, B)`` (one ``all_reduce`` of one integer; so ``pad_to``
        may differ between ranks and be smaller than B, it only avoids
        reallocations when it is a fixed upper bound), then the rows are
        packed to that size (:meth:`pack_rows`), all-gathered (on the
        current CUDA device for NCCL, else on the CPU) and applied as one
        :meth:`update` in rank order, so a later rank wins on an image that
        two ranks saw and all ranks end with the identical pool. Without
        distributed training it is :meth:`update`.

        Args:
            image_indices (Tensor): ``(B,)`` dataset indices, ``-1`` =
                padding.
            classes (Tensor): ``(B, K)`` classes (:func:`boxes_to_rows`).
            margins (Tensor): ``(B, K)`` margins.
            pad_to (int): rows per rank to pad to (at least).
            group (optional): process group (default: the world).

        Returns:
            int: number of pool rows written on this rank.
        """
        dist = torch.distributed
        if not (dist.is_available() and dist.is_initialized()
                and dist.get_world_size(group) > 1):
            return self.update(image_indices, classes, margins)
        _check_rows(image_indices, classes, margins,
                    self.max_classes_per_image)
        device = torch.device('cpu')
        if dist.get_backend(group) == 'nccl':
            device = torch.device('cuda', torch.cuda.current_device())
        size = torch.tensor([max(int(pad_to), image_indices.numel())],
                            dtype=torch.long, device=device)
        dist.all_reduce(size, op=dist.ReduceOp.MAX, group=group)
        packed = self.pack_rows(image_indices.to(device), classes.to(device),
                                margins.to(device), int(size))
        gathered = [
            torch.empty_like(packed)
            for _ in range(dist.get_world_size(group))
        ]
        dist.all_gather(gathered, packed, group=group)
        return self.update(*self.unpack_rows(torch.cat(gathered)))

    # ------------------------------------------------------------------
    # statistics

    def class_image_counts(self) -> Tensor:
        """Number of images with a pseudo box of every class.

        Rows hold unique classes, so this is a bincount of the valid slots.

        Returns:
            Tensor: ``(n,)`` long.
        """
        counts = torch.bincount((self.classes + 1).view(-1),
                                minlength=self.num_classes + 1)
        return counts[1:]

    def num_images_with_labels(self) -> int:
        """Number of images with at least one pseudo box.

        A row has a valid slot iff its largest class is >= 0 (empty slots
        are -1, the only negative value :meth:`update` accepts).
        """
        return int((self.classes.amax(dim=1) >= 0).sum())

    def nbytes(self) -> int:
        """Memory of the storage tensors, in bytes."""
        return sum(t.element_size() * t.numel()
                   for t in (self.classes, self.margins))

    def reset(self) -> None:
        """Forget every pseudo label (all rows empty)."""
        self.classes.fill_(-1)
        self.margins.zero_()

    def __len__(self) -> int:
        return self.num_images

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_images={self.num_images}, '
                f'num_classes={self.num_classes}, max_classes_per_image='
                f'{self.max_classes_per_image})')

    # ------------------------------------------------------------------
    # checkpointing

    def state_dict(self) -> Dict[str, Any]:
        """The pool as a dict (the storage tensors themselves, not copies)."""
        return {
            'num_images': self.num_images,
            'num_classes': self.num_classes,
            'max_classes_per_image': self.max_classes_per_image,
            'classes': self.classes,
            'margins': self.margins,
        }

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Copy a :meth:`state_dict` into this pool.

        Raises:
            ValueError: if the state was saved for another number of images,
                classes or slots per row (i.e. the pool was built for a
                different unlabeled dataset or configuration).
        """
        expected = (self.num_images, self.num_classes,
                    self.max_classes_per_image)
        got = tuple(
            int(state_dict.get(key, -1))
            for key in ('num_images', 'num_classes', 'max_classes_per_image'))
        shape = (self.num_images, self.max_classes_per_image)
        tensors = [state_dict.get('classes'), state_dict.get('margins')]
        if got != expected or any(t is None or tuple(t.shape) != shape
                                  for t in tensors):
            found = [None if t is None else tuple(t.shape) for t in tensors]
            raise ValueError(
                'PseudoLabelPool state does not match this pool: it was '
                'built for a different unlabeled dataset (or another '
                'max_classes_per_image): saved (num_images, num_classes, K) '
                f'= {got} with tensors of shape {found}, this pool '
                f'{expected}. Check the unlabeled dataset of the config, or '
                'start without resuming the pool.')
        self.classes.copy_(tensors[0])
        self.margins.copy_(tensors[1])
