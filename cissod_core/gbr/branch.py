"""The GbR branches: which kind of classification loss a call belongs to.

GbR keeps one gradient matrix fed by two kinds of RoI-classification losses:
the labeled branch and the unlabeled (pseudo-label) branch, each scaled by
its loss weight; passes whose classification loss is discarded (Soft
Teacher's regression-only pass) record nothing (branch ``None``).

The branch is state of the loss module, set by the detector that owns it
(``cissod.models.losses.LossBranchMixin.in_branch``); this module only
defines the values.
"""
from typing import NamedTuple, Optional

#: Branch names that record gradient statistics and get class weights.
RECORDED_BRANCHES = ('labeled', 'unlabeled')


class BranchState(NamedTuple):
    """A loss's branch: its name (``None`` = record nothing) and weight."""
    name: Optional[str]
    loss_weight: float


#: the branch of a loss outside any ``in_branch`` block (a supervised
#: detector needs no code at all)
DEFAULT_BRANCH = BranchState('labeled', 1.0)


def check_branch(name: Optional[str]) -> None:
    """Raise ``ValueError`` unless ``name`` is a branch or ``None``."""
    if name is not None and name not in RECORDED_BRANCHES:
        raise ValueError(f'unknown GbR branch {name!r}; use one of '
                         f'{RECORDED_BRANCHES} or None (record nothing)')
