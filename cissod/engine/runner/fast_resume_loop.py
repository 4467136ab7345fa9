"""An iteration-based train loop that resumes without re-reading data.

On ``--resume`` at iteration k, mmengine's ``IterBasedTrainLoop.run`` calls
``next()`` on the dataloader k times ("Advance dataloader k steps") so that
the sampler reaches the right position: every already-trained batch is
loaded, decoded and augmented again, hours at k = 100k. A sampler whose
stream is indexed by batch (``fast_forward(k)``, e.g.
:class:`~cissod.datasets.ClassRebalancingMultiSourceSampler`) can
jump there instead. :class:`FastResumeIterBasedTrainLoop` does that and
otherwise is mmengine's loop:

* when resuming (``iter > 0``) with such a sampler, it calls
  ``sampler.fast_forward(iter)`` and replaces the loop's dataloader iterator
  by one whose first ``iter`` ``next()`` calls return None without touching
  the dataloader (or whose ``skip_iter(iter)``, what onedl-mmengine's loop
  calls instead, does the same), so the base class's advance costs nothing.
  The real dataloader iterator is created at the first batch trained, i.e.
  after the ``before_train`` hooks (which may still update the sampler);
* otherwise it runs the base class unchanged.

The contract of ``fast_forward(k)``: the next ``iter(sampler)`` yields the
indices the sampler would have yielded after k batches of the DataLoader
(``batch_size`` of the DataLoader equal to the sampler's batch).
"""
import logging
from typing import Any, Callable, Iterator, Optional

from mmdet.registry import LOOPS
from mmengine.logging import print_log
from mmengine.runner.loops import (
    IterBasedTrainLoop,
    _InfiniteDataloaderIterator,
)

from ...datasets.samplers import loader_sampler

__all__ = ['FastResumeIterBasedTrainLoop', 'find_fast_forward_sampler']


def find_fast_forward_sampler(dataloader) -> Optional[Any]:
    """The dataloader's sampler (:func:`loader_sampler`) if it has
    ``fast_forward``, else None."""
    sampler = loader_sampler(dataloader)
    return sampler if callable(getattr(sampler, 'fast_forward',
                                       None)) else None


class _SkipThenIterate:
    """Return None ``skip`` times, then the items of a lazily made iterator.

    Args:
        make_iterator (Callable[[], Iterator]): builds the real iterator on
            the first ``next()`` after the skipped ones.
        skip (int): number of leading ``next()`` calls that return None.
    """

    def __init__(self, make_iterator: Callable[[], Iterator],
                 skip: int) -> None:
        self._make_iterator = make_iterator
        self._skip = int(skip)
        self._iterator: Optional[Iterator] = None

    def __iter__(self) -> '_SkipThenIterate':
        return self

    def skip_iter(self, num_iters: int) -> None:
        """Consume ``num_iters`` of the skipped ``next()`` calls at once.

        onedl-mmengine's ``IterBasedTrainLoop.run`` advances the iterator
        with ``skip_iter(iter)`` where mmengine 0.10.7 calls ``next()``
        ``iter`` times; both cost nothing here.
        """
        if num_iters > self._skip:
            raise RuntimeError(
                f'skip_iter({num_iters}) past the {self._skip} batches the '
                'sampler was fast-forwarded by')
        self._skip -= int(num_iters)

    def __next__(self) -> Any:
        if self._skip > 0:
            self._skip -= 1
            return None
        if self._iterator is None:
            self._iterator = self._make_iterator()
        return next(self._iterator)


@LOOPS.register_module()
class FastResumeIterBasedTrainLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` that fast-forwards the sampler on resume.

    Takes the arguments of mmengine's ``IterBasedTrainLoop``; use it with
    ``train_cfg = dict(type='FastResumeIterBasedTrainLoop', max_iters=...,
    val_interval=...)``. See the module docstring.
    """

    def run(self) -> Any:
        """Fast-forward the sampler when resuming, then run the base loop."""
        sampler = find_fast_forward_sampler(self.dataloader)
        if self._iter > 0 and sampler is not None:
            self._fast_forward(sampler)
        return super().run()

    def _fast_forward(self, sampler) -> None:
        skip = self._iter
        sampler.fast_forward(skip)
        dataloader = self.dataloader
        # drop the iterator made in __init__ (and its prefetched batches)
        self.dataloader_iterator = _SkipThenIterate(
            lambda: _InfiniteDataloaderIterator(dataloader), skip)
        print_log(
            f'Fast-forwarded {type(sampler).__name__} to batch {skip}: the '
            f'{skip} trained batches are not loaded again (the "Advance '
            'dataloader" message that follows reads no data)',
            logger='current',
            level=logging.INFO)
