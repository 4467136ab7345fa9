"""Which branch a classification-loss call belongs to.

GbR keeps one gradient matrix fed by two kinds of RoI-classification losses:
the labeled branch and the unlabeled (pseudo-label) branch, each scaled by
its loss weight; passes whose classification loss is discarded (Soft
Teacher's regression-only pass) must record nothing. The caller states the
branch explicitly::

    with gbr_branch('unlabeled', loss_weight=4.0):
        losses = detector.loss(...)

Outside any ``gbr_branch`` block the branch is ``'labeled'`` with weight 1,
so a plain supervised detector needs no code at all. ``GradientBalanceHook``
enters these blocks around the methods of semi-supervised detectors (see
``install_branch_wrappers``).
"""
import contextlib
import functools
import threading
from typing import Callable, Dict, Iterator, NamedTuple, Optional

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


def wrap_in_branch(method: Callable, name: Optional[str],
                   loss_weight: float) -> Callable:
    """Return ``method`` wrapped so that every call runs in a branch."""

    @functools.wraps(method)
    def wrapped(*args, **kwargs):
        with gbr_branch(name, loss_weight):
            return method(*args, **kwargs)

    wrapped.__gbr_branch__ = name  # marks the method as already wrapped
    return wrapped


def install_branch_wrappers(model: object,
                            methods: Dict[str, Optional[str]],
                            loss_weights: Dict[str, float]) -> Dict[str, str]:
    """Wrap methods of ``model`` (instance attributes) in branches.

    Args:
        model: The detector, e.g. a ``SemiBaseDetector``.
        methods (dict[str, str | None]): Method name -> branch name. Methods
            the model does not have are skipped.
        loss_weights (dict[str, float]): Branch name -> loss weight.

    Returns:
        dict[str, str]: The methods wrapped, with their branch (for logging).
    """
    installed = {}
    for method_name, branch in methods.items():
        method = getattr(model, method_name, None)
        if method is None or hasattr(method, '__gbr_branch__'):
            continue
        weight = loss_weights.get(branch, 1.0) if branch else 0.0
        setattr(model, method_name, wrap_in_branch(method, branch, weight))
        installed[method_name] = str(branch)
    return installed
