"""Reading an mmengine checkpoint file the way ``--resume`` does."""
from typing import Any, Dict

from mmengine.runner import CheckpointLoader

__all__ = ['load_checkpoint_file']


def load_checkpoint_file(path: str, map_location: str = 'cpu') -> Dict[str, Any]:
    """The whole checkpoint dict of ``path`` (``state_dict``, ``meta``,
    ``message_hub``, ``cissod_crs``, ...), loaded by mmengine's
    ``CheckpointLoader`` as ``runner.resume`` loads it.

    On onedl-mmengine with torch >= 2.6 that is ``torch.load(weights_only=
    True)`` with mmengine's allow-list (NumPy types, ``HistoryBuffer``); on
    the classic stack (torch < 2.6) torch's own default. No
    ``weights_only=False`` is asked for here.
    """
    return CheckpointLoader.load_checkpoint(path, map_location=map_location)
