"""Reading mmengine checkpoint files the way ``--resume`` does."""
from typing import Any, Dict

import numpy as np
import torch
from mmengine.runner import CheckpointLoader

__all__ = ['allow_numpy1_checkpoints', 'load_checkpoint_file']


def load_checkpoint_file(path: str,
                         map_location: str = 'cpu') -> Dict[str, Any]:
    """The whole checkpoint dict of ``path`` (``state_dict``, ``meta``,
    ``message_hub``, ``cissod_crs``, ...), loaded by mmengine's
    ``CheckpointLoader`` as ``runner.resume`` loads it.

    On onedl-mmengine with torch >= 2.6 that is ``torch.load(weights_only=
    True)`` with mmengine's allow-list (NumPy types, ``HistoryBuffer``); on
    the classic stack (torch < 2.6) torch's own default. No
    ``weights_only=False`` is asked for here.
    """
    return CheckpointLoader.load_checkpoint(path, map_location=map_location)


def allow_numpy1_checkpoints() -> None:
    """Let ``torch.load(weights_only=True)`` read NumPy arrays pickled by
    NumPy 1 (checkpoints of the classic stack) under NumPy 2.

    mmengine's ``message_hub`` keeps NumPy arrays (``HistoryBuffer``).
    NumPy 1 pickles them as ``numpy.core.multiarray._reconstruct`` /
    ``.scalar``; NumPy 2 moved both to ``numpy._core`` and mmengine's
    allow-list names only the new paths, so a classic checkpoint would fall
    back to ``weights_only=False``. This allow-lists the same two functions
    under their NumPy 1 names (nothing else); a no-op under NumPy 1 or a
    torch without ``add_safe_globals``.
    """
    # NumPy 1.26 has a numpy._core stub without multiarray
    multiarray = getattr(getattr(np, '_core', None), 'multiarray', None)
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if multiarray is None or add is None:
        return
    add([(multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
         (multiarray.scalar, 'numpy.core.multiarray.scalar')])
