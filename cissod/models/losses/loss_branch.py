"""The GbR branch of a classification loss: state of the loss module, set
by the detector that owns it.

A detector runs its labeled loss with ``with loss.in_branch('labeled',
sup_weight): ...`` and its unlabeled loss with ``in_branch('unlabeled',
unsup_weight)``; a pass whose classification loss is discarded uses
``in_branch(None)``. Outside any block the branch is ``('labeled', 1.0)``,
so a supervised detector needs no code.
"""
from contextlib import contextmanager
from typing import Iterator, Optional

from cissod_core.gbr import DEFAULT_BRANCH, BranchState, check_branch

__all__ = ['LossBranchMixin']


class LossBranchMixin:
    """Gives a GbR loss its ``branch`` and the ``in_branch`` block that
    sets it."""

    #: the branch of the calls in progress
    branch: BranchState = DEFAULT_BRANCH

    @contextmanager
    def in_branch(self, name: Optional[str],
                  loss_weight: float = 1.0) -> Iterator[BranchState]:
        """Run the enclosed calls of this loss as branch ``name``.

        Args:
            name (str | None): ``'labeled'``, ``'unlabeled'`` or ``None``
                (the calls record nothing and are not reweighted).
            loss_weight (float): Multiplier of the branch's loss in the
                total loss; it scales the branch's share of G.
        """
        check_branch(name)
        previous = self.branch
        self.branch = BranchState(name, float(loss_weight))
        try:
            yield self.branch
        finally:
            self.branch = previous
