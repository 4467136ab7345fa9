"""Multi-source sampler whose draw weights can change during training (CrS).

:class:`ClassRebalancingMultiSourceSampler` takes the place of mmdet's
``GroupMultiSourceSampler``: every batch holds ``num_per_source[0]`` labeled
then ``num_per_source[1]`` unlabeled images (1 : 4 by default), all from one
aspect-ratio group. Unlike mmdet's sampler it

* draws every source's images **with replacement, in proportion to
  per-image weights**: repeat-factor sampling (RFS) factors on the labeled
  source, CrS factors on the unlabeled one (docs/cissod.md);
* takes **in-place weight updates** (:meth:`set_source_weights`) that come
  into force at a chosen batch, identically on every rank, without
  rebuilding the dataloader;
* is a **pure function of (seed, batch index, weights)**, so it can
  fast-forward (:meth:`fast_forward`) and resume (:meth:`state_dict`)
  without generating the batches it skips.

The batch stream
----------------
There is one global stream of batches shared by all ranks. Global batch
``g`` draws, from a ``torch.Generator`` seeded by ``hash(seed, g)``,
``1 + batch_size`` uniforms ``u`` in [0, 1):

* ``u[0]`` picks the aspect-ratio group (0: width < height, 1: otherwise),
  with probability proportional to the group's size summed over the sources
  (as mmdet does); groups missing from a source that is sampled are never
  picked;
* the next ``num_per_source[s]`` uniforms of each source ``s`` pick images of
  that group: image j of the group is drawn with probability
  ``w_j / sum(w)``, computed as ``searchsorted(cumsum(w), u * sum(w))``.

Rank ``r`` of ``W`` ranks yields global batches ``r, r + W, r + 2W, ...``:
its local batch ``b`` is global batch ``b * W + r``. Shares are disjoint and
do not depend on how many batches any rank has generated.

Compared with mmdet's per-epoch permutations (every image exactly once per
pass), drawing with replacement has the same expected number of draws per
image (proportional to its weight, uniform when all weights are 1) but a
random count over any finite window. It is what makes the stream a pure
function of the batch index and lets weights change at any batch.

Repeat semantics
----------------
The weights a caller sets are *repeat factors* r(I) >= 0 (RFS on the
labeled source, CrS on the unlabeled one). With ``repeat_mode='ceil'``
(the default, as the reference and mmengine's ``ClassBalancedDataset``)
image I is drawn in proportion to ``ceil(r(I))``: the same expected
frequencies as a dataset that repeats every image ``ceil(r(I))`` times and
is sampled uniformly. ``repeat_mode='proportional'`` draws in proportion to
r(I) itself, which is much weaker for r in (1, 2] (1.1x instead of 2x).

Weight updates
--------------
``set_source_weights(source, weights, start_batch)`` makes ``weights``
apply to local batches ``>= start_batch``; earlier batches keep the previous
weights (the sampler keeps the previous and the current table of every
source). DataLoader workers prefetch batches, so the batches already
generated are fixed: ``start_batch`` must be at least the number of
batches the sampler has generated, which at the end of iteration ``i`` is
at most ``i + 1 + num_workers * prefetch_factor``. A hook therefore passes
``start_batch = runner.iter + 1 + delay`` with
``delay >= num_workers * prefetch_factor``; a too-small delay raises.
Successive updates must be more than ``delay`` batches apart, so that a
checkpoint never needs a table that was dropped (:meth:`fast_forward` checks
it).
"""
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sized, Union

import torch
from mmdet.registry import DATA_SAMPLERS
from mmengine.dist import get_dist_info, sync_random_seed
from torch import Tensor
from torch.utils.data import Sampler

from cissod_core.crs import (
    REPEAT_MODES,
    batch_seed,
    draw_weights,
    num_per_source,
    rfs_image_factors,
)

__all__ = ['ClassRebalancingMultiSourceSampler', 'loader_sampler']


def loader_sampler(dataloader) -> Optional[Sampler]:
    """The sampler that draws a DataLoader's indices: ``dataloader.sampler``,
    or ``dataloader.batch_sampler.sampler`` when a batch sampler is set (the
    DataLoader's own ``sampler`` is then a placeholder). The one place the
    hooks and the train loop find it."""
    sampler = getattr(dataloader, 'sampler', None)
    inner = getattr(getattr(dataloader, 'batch_sampler', None), 'sampler',
                    None)
    return sampler if inner is None or inner is sampler else inner

#: Aspect-ratio groups: 0 (width < height) and 1 (width >= height).
NUM_GROUPS = 2

def aspect_ratio_groups(dataset) -> Tensor:
    """Group of every image: 0 if width < height else 1; shape (N,) int64."""
    groups = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        groups.append(0 if info['width'] < info['height'] else 1)
    return torch.tensor(groups, dtype=torch.long)


@dataclass
class _WeightTable:
    """Draw weights of one source from local batch ``start`` on.

    Attributes:
        start (int): first local batch that uses the table.
        weights (Tensor): per-image repeat factors of the source,
            (N_source,) float64.
        cdfs (list[Tensor]): per group, the float64 cumulative sum of the
            draw weights (:func:`draw_weights` of the factors) of the
            group's images, in group order.
    """
    start: int
    weights: Tensor
    cdfs: List[Tensor]


@DATA_SAMPLERS.register_module()
class ClassRebalancingMultiSourceSampler(Sampler):
    """Weighted, resumable replacement of mmdet's GroupMultiSourceSampler.

    See the module docstring for the batch stream and the update rules.

    Args:
        dataset (ConcatDataset): the concatenation of the source datasets
            ([labeled, unlabeled]); needs ``datasets`` and
            ``cumulative_sizes``, and every source ``get_data_info(i)`` with
            ``width`` / ``height`` (and ``get_cat_ids(i)`` on the labeled
            source for RFS).
        batch_size (int): images per batch (per rank).
        source_ratio (list[int | float]): relative number of images of each
            source in a batch, e.g. ``[1, 4]``.
        shuffle (bool): must be True (drawing with replacement has no
            unshuffled order); kept for config compatibility with mmdet.
        seed (int, optional): seed of the batch stream; a seed synchronised
            over ranks (``sync_random_seed``) when None.
        labeled_rfs_threshold (float, optional): RFS threshold t of the
            labeled source (source 0): its images are drawn in proportion to
            their repeat factors. Uniform when None.
        crs_source (int): the source whose weights CrS updates (the
            unlabeled one).
        repeat_mode (str): ``'ceil'`` (default, the reference and
            ``ClassBalancedDataset``) or ``'proportional'``: how repeat
            factors become draw weights (:func:`draw_weights`).
    """

    def __init__(self,
                 dataset: Sized,
                 batch_size: int,
                 source_ratio: List[Union[int, float]],
                 shuffle: bool = True,
                 seed: Optional[int] = None,
                 labeled_rfs_threshold: Optional[float] = None,
                 crs_source: int = 1,
                 repeat_mode: str = 'ceil') -> None:
        if not hasattr(dataset, 'cumulative_sizes'):
            raise TypeError(f'the dataset must be a ConcatDataset, got '
                            f'{type(dataset).__name__}')
        if not (isinstance(batch_size, int) and batch_size > 0):
            raise ValueError(f'batch_size must be a positive int, got '
                             f'{batch_size!r}')
        num_sources = len(dataset.datasets)
        if len(source_ratio) != num_sources:
            raise ValueError(
                f'source_ratio {list(source_ratio)} needs one entry per '
                f'source dataset ({num_sources})')
        if not shuffle:
            raise ValueError(
                'ClassRebalancingMultiSourceSampler draws with replacement '
                'and has no unshuffled order: use shuffle=True')
        if not 0 <= crs_source < num_sources:
            raise ValueError(f'crs_source {crs_source} is not a source index '
                             f'(0..{num_sources - 1})')
        if repeat_mode not in REPEAT_MODES:
            raise ValueError(f'repeat_mode must be one of {REPEAT_MODES}, '
                             f'got {repeat_mode!r}')
        self.repeat_mode = repeat_mode
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.batch_size = batch_size
        self.source_ratio = list(source_ratio)
        self.shuffle = shuffle
        self.crs_source = crs_source
        self.labeled_rfs_threshold = labeled_rfs_threshold
        self.num_per_source = num_per_source(batch_size, self.source_ratio)
        self.cumulative_sizes = [0] + list(dataset.cumulative_sizes)
        self.source_sizes = [len(ds) for ds in dataset.datasets]
        self.seed = sync_random_seed() if seed is None else int(seed)
        self._class_ids: Dict[int, List[List[int]]] = {}

        self._build_groups()
        self._tables: List[List[_WeightTable]] = [
            [self._make_table(s, self._initial_weights(s), 0)]
            for s in range(num_sources)
        ]
        self._start_batch = 0
        self._generated = 0

    # ------------------------------------------------------------------
    # construction

    def _build_groups(self) -> None:
        """Per source and group the source-local image indices; group CDF."""
        self.group_indices: List[List[Tensor]] = []
        group_sizes = torch.zeros(NUM_GROUPS, dtype=torch.float64)
        eligible = torch.ones(NUM_GROUPS, dtype=torch.bool)
        for source, ds in enumerate(self.dataset.datasets):
            groups = aspect_ratio_groups(ds)
            per_group = [
                torch.nonzero(groups == k).flatten()
                for k in range(NUM_GROUPS)
            ]
            self.group_indices.append(per_group)
            sizes = torch.tensor([len(i) for i in per_group])
            group_sizes += sizes
            if self.num_per_source[source] > 0:
                eligible &= sizes > 0
        if not eligible.any():
            raise ValueError(
                'no aspect-ratio group has images in every sampled source: '
                f'group sizes per source {self.group_sizes_per_source()}')
        self._group_eligible = eligible
        self._group_cdf = torch.cumsum(group_sizes * eligible, 0)

    def group_sizes_per_source(self) -> List[List[int]]:
        """Number of images of each aspect-ratio group, per source."""
        return [[len(i) for i in per_group]
                for per_group in self.group_indices]

    def image_class_ids(self, source: int) -> List[List[int]]:
        """Class indices of every image's boxes in ``source`` (read once
        from ``get_cat_ids``): RFS weights the labeled source by them and
        CrS counts the labeled images per class from them."""
        if source not in self._class_ids:
            ds = self.dataset.datasets[source]
            self._class_ids[source] = [
                [int(c) for c in ds.get_cat_ids(i)] for i in range(len(ds))
            ]
        return self._class_ids[source]

    def image_ids(self, source: int) -> List[int]:
        """``img_id`` of every image of ``source``, in dataset order."""
        ds = self.dataset.datasets[source]
        return [int(ds.get_data_info(i)['img_id']) for i in range(len(ds))]

    def _initial_weights(self, source: int) -> Tensor:
        if source == 0 and self.labeled_rfs_threshold is not None:
            return rfs_image_factors(self.image_class_ids(0),
                                     self.labeled_rfs_threshold)
        return torch.ones(self.source_sizes[source], dtype=torch.float64)

    def _make_table(self, source: int, weights: Tensor,
                    start: int) -> _WeightTable:
        """Validate ``weights`` of ``source`` and build their group CDFs."""
        weights = torch.as_tensor(weights).detach().to(
            'cpu', torch.float64).flatten().clone()
        size = self.source_sizes[source]
        if weights.numel() != size:
            raise ValueError(f'source {source} has {size} images but '
                             f'{weights.numel()} weights were given')
        if not (torch.isfinite(weights).all() and (weights >= 0).all()):
            raise ValueError(f'weights of source {source} must be finite '
                             'and >= 0')
        draw = draw_weights(weights, self.repeat_mode)
        cdfs = [
            torch.cumsum(draw[inds], 0)
            for inds in self.group_indices[source]
        ]
        if self.num_per_source[source] > 0:
            for k, cdf in enumerate(cdfs):
                if self._group_eligible[k] and not (len(cdf)
                                                    and cdf[-1] > 0):
                    raise ValueError(
                        f'weights of source {source} are all zero in '
                        f'aspect-ratio group {k}')
        return _WeightTable(int(start), weights, cdfs)

    # ------------------------------------------------------------------
    # drawing

    def _table(self, source: int, batch: int) -> _WeightTable:
        """The weight table of ``source`` in force at local ``batch``."""
        for table in reversed(self._tables[source]):
            if table.start <= batch:
                return table
        raise RuntimeError(
            f'the weights of source {source} for local batch {batch} were '
            'dropped (only the tables from local batch '
            f'{self._tables[source][0].start} on are kept): weight updates '
            'must be more than `delay` batches apart')

    def _global_batch(self, batch: int) -> int:
        return batch * self.world_size + self.rank

    def indices_of_batch(self, batch: int) -> List[int]:
        """Dataset indices of this rank's local ``batch`` (a pure function).

        Args:
            batch (int): local batch index (>= 0).

        Returns:
            list[int]: ``batch_size`` indices into the ConcatDataset, the
            sources in order, all from one aspect-ratio group.
        """
        gen = torch.Generator()
        gen.manual_seed(batch_seed(self.seed, self._global_batch(batch)))
        u = torch.rand(1 + self.batch_size, generator=gen,
                       dtype=torch.float64)
        group = int(self._search(self._group_cdf, u[:1]))
        offset = 1
        indices: List[int] = []
        for source, num in enumerate(self.num_per_source):
            if num == 0:
                continue
            cdf = self._table(source, batch).cdfs[group]
            pos = self._search(cdf, u[offset:offset + num])
            offset += num
            picked = self.group_indices[source][group][pos]
            indices += (picked + self.cumulative_sizes[source]).tolist()
        return indices

    @staticmethod
    def _search(cdf: Tensor, u: Tensor) -> Tensor:
        """Positions drawn in proportion to the increments of ``cdf``.

        ``right=True`` returns the first j with ``cdf[j] > u * cdf[-1]``, so
        zero-weight entries are never drawn; the clamp guards against
        ``u * cdf[-1]`` rounding up to ``cdf[-1]``.

        Args:
            cdf (Tensor): non-decreasing cumulative weights, (M,) float64.
            u (Tensor): uniforms in [0, 1), (K,) float64.

        Returns:
            Tensor: positions in ``[0, M)``, (K,) int64.
        """
        pos = torch.searchsorted(cdf, u * cdf[-1], right=True)
        return pos.clamp_(max=len(cdf) - 1)

    def __iter__(self) -> Iterator[int]:
        return self._stream(self._start_batch)

    def _stream(self, start: int) -> Iterator[int]:
        """Infinite indices of local batches ``start, start + 1, ...``."""
        batch = start
        while True:
            indices = self.indices_of_batch(batch)
            self._generated = batch + 1
            yield from indices
            batch += 1

    def __len__(self) -> int:
        return len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        """Not used: the stream is infinite and indexed by batch."""

    # ------------------------------------------------------------------
    # weights, fast-forward and resume

    @property
    def num_generated_batches(self) -> int:
        """One past the last local batch generated by the running stream."""
        return self._generated

    def weights(self, source: int, batch: Optional[int] = None) -> Tensor:
        """Draw weights of ``source`` (a copy), shape (N_source,) float64.

        Args:
            source (int): source index.
            batch (int, optional): the local batch whose weights to return;
                the most recently set weights when None.
        """
        table = (self._tables[source][-1]
                 if batch is None else self._table(source, batch))
        return table.weights.clone()

    # --------------------------------------------------------------
    # what ClassRebalancingHook (CrS) uses: source 0 is labeled,
    # ``crs_source`` the unlabeled one it reweights

    def unlabeled_image_ids(self) -> List[int]:
        """``img_id`` of every image CrS reweights, in dataset order."""
        return self.image_ids(self.crs_source)

    def labeled_image_class_ids(self) -> List[List[int]]:
        """Class indices of every labeled image's boxes."""
        return self.image_class_ids(0)

    @property
    def unlabeled_per_batch(self) -> int:
        """Images of the reweighted source in every batch."""
        return self.num_per_source[self.crs_source]

    def set_unlabeled_weights(self, weights: Tensor,
                              start_batch: int) -> None:
        """``set_source_weights`` of the source CrS reweights."""
        self.set_source_weights(self.crs_source, weights, start_batch)

    def set_source_weights(self, source: int, weights: Tensor,
                           start_batch: int) -> None:
        """Draw ``source``'s images in proportion to ``weights`` from a batch.

        Call it with the same arguments on every rank.

        Args:
            source (int): source index (``crs_source`` for CrS).
            weights (Tensor): per-image weights, shape (N_source,), finite,
                >= 0 (any float dtype; stored as float64).
            start_batch (int): first local batch drawn with the new weights;
                ``runner.iter + 1 + delay`` from a hook, with
                ``delay >= num_workers * prefetch_factor``.

        Raises:
            RuntimeError: a batch >= ``start_batch`` was already generated
                (prefetched), or the previous update has not come into force.
        """
        start_batch = int(start_batch)
        if start_batch < self._generated:
            raise RuntimeError(
                f'cannot change the weights of source {source} from local '
                f'batch {start_batch}: the sampler has already generated '
                f'batches up to {self._generated - 1} (DataLoader workers '
                'prefetch num_workers * prefetch_factor batches). Increase '
                'the delay of the weight update to at least num_workers * '
                f'prefetch_factor (now {start_batch - self._generated} too '
                'small).')
        tables = self._tables[source]
        if tables[-1].start > self._generated:
            raise RuntimeError(
                f'the previous weights of source {source} (from local batch '
                f'{tables[-1].start}) are not in force yet (generated '
                f'{self._generated} batches): weight updates must be more '
                'than `delay` batches apart')
        table = self._make_table(source, weights, start_batch)
        self._tables[source] = [tables[-1], table]

    def fast_forward(self, batch: int) -> None:
        """Make the next iteration start at local ``batch``.

        Used on resume with ``batch = runner.iter`` (the number of trained
        iterations): batches ``0 .. batch - 1`` are not generated again.
        """
        batch = int(batch)
        if batch < 0:
            raise ValueError(f'batch must be >= 0, got {batch}')
        for source in range(len(self._tables)):
            self._table(source, batch)  # raises if the weights were dropped
        self._start_batch = batch
        self._generated = batch

    def state_dict(self) -> Dict:
        """The seed and the weight tables (identical on every rank)."""
        return dict(
            seed=self.seed,
            source_sizes=list(self.source_sizes),
            group_sizes=self.group_sizes_per_source(),
            num_per_source=list(self.num_per_source),
            world_size=self.world_size,
            tables=[[dict(start=t.start, weights=t.weights.clone())
                     for t in tables] for tables in self._tables])

    def load_state_dict(self, state: Dict) -> None:
        """Restore :meth:`state_dict`; call :meth:`fast_forward` after it.

        Raises:
            ValueError: the sources' sizes or aspect-ratio groups differ from
                the saved ones (resume with the same datasets).
        """
        if (list(state['source_sizes']) != self.source_sizes or
                [list(g) for g in state['group_sizes']] !=
                self.group_sizes_per_source()):
            raise ValueError(
                'cannot load the sampler state: it was saved for sources of '
                f'sizes {list(state["source_sizes"])} (aspect-ratio groups '
                f'{state["group_sizes"]}) but the datasets have '
                f'{self.source_sizes} ({self.group_sizes_per_source()}); '
                'resume with the same labeled and unlabeled datasets.')
        self.seed = int(state['seed'])
        self._tables = [[
            self._make_table(source, t['weights'], t['start'])
            for t in tables
        ] for source, tables in enumerate(state['tables'])]
        self._generated = self._start_batch
