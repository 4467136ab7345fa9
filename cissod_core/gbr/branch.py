"""Which branch a classification-loss call belongs to.

GbR keeps one gradient matrix fed by two kinds of RoI-classification losses:
the labeled branch and the unlabeled (pseudo-label) branch, each scaled by
its loss weight; passes whose classification loss is discarded (Soft
Teacher's regression-only pass) must record nothing. The caller states the
branch explicitly::

    with gbr_branch('unlabeled', loss_weight=4.0):
        losses = detector.loss(...)

Outside any ``gbr_branch`` block the branch is ``'labeled'`` with weight 1,
so a plain supervised detector needs no code at all. Semi-supervised
detectors enter these blocks in their loss methods (``GbRBranchesMixin`` of
the mmdet glue); nothing else sets branches.
"""
import contextlib
import threading
from typing import Iterator, NamedTuple, Optional

#: Branch names that record gradient statistics and get class weights.
RECORDED_BRANCHES = ('labeled', 'unlabeled')


class BranchState(NamedTuple):
    """The active branch: its name (``None`` = record nothing) and weight."""
    name: Optional[str]
    loss_weight: float


_DEFAULT = BranchState('labeled', 1.0)
_local = threading.local()


def current_branch() -> BranchState:
    """The innermost active branch, or ``('labeled', 1.0)`` by default."""
    stack = getattr(_local, 'stack', None)
    return stack[-1] if stack else _DEFAULT


@contextlib.contextmanager
def gbr_branch(name: Optional[str],
               loss_weight: float = 1.0) -> Iterator[BranchState]:
    """Run the enclosed loss calls as branch ``name`` with ``loss_weight``.

    Args:
        name (str | None): ``'labeled'``, ``'unlabeled'`` or ``None`` (the
            enclosed classification losses record nothing and are not
            reweighted).
        loss_weight (float): Multiplier of the branch's loss in the total
            loss; it scales the branch's contribution to the gradient matrix.
    """
    if name is not None and name not in RECORDED_BRANCHES:
        raise ValueError(f'unknown GbR branch {name!r}; use one of '
                         f'{RECORDED_BRANCHES} or None (record nothing)')
    state = BranchState(name, float(loss_weight))
    stack = getattr(_local, 'stack', None)
    if stack is None:
        stack = _local.stack = []
    stack.append(state)
    try:
        yield state
    finally:
        stack.pop()
