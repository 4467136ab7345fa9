"""Multi-process training without GPUs (gloo), e.g. to test a launch setup.

mmengine (0.10.7, and onedl-mmengine 0.10.12 alike) assumes a GPU per
process under ``--launcher pytorch``:
``init_dist`` calls ``torch.cuda.set_device`` and the runner passes
``device_ids=[LOCAL_RANK]`` to ``DistributedDataParallel``, which torch
rejects for CPU modules. :func:`setup_cpu_distributed` (called by
``tools/train.py`` and ``tools/test.py`` when no GPU is visible) initialises
the process group with the gloo backend itself, so that mmengine skips its
own ``init_dist``, and selects :class:`CPUDistributedDataParallel`, which
drops ``device_ids`` for CPU modules. On GPU machines nothing changes.
"""
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS  # the runner looks here


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that also wraps CPU modules.

    Args:
        module (nn.Module): the model.
        device_ids (list[int], optional): ignored (set to None) when the
            module's parameters are on the CPU.
        **kwargs: the arguments of ``MMDistributedDataParallel``.
    """

    def __init__(self, module, device_ids=None, **kwargs) -> None:
        param = next(module.parameters(), None)
        if param is not None and param.device.type == 'cpu':
            device_ids = None
        super().__init__(module=module, device_ids=device_ids, **kwargs)


def setup_cpu_distributed(cfg: Config) -> bool:
    """Prepare a ``pytorch``-launched run on a machine without GPUs.

    Initialises ``torch.distributed`` with gloo from the torchrun environment
    (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``), sets
    ``env_cfg.dist_cfg.backend='gloo'`` and, unless the config chose a model
    wrapper, ``model_wrapper_cfg=dict(type='CPUDistributedDataParallel')``.

    Returns:
        bool: True if it did so (launcher ``pytorch``, no CUDA device).
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='CPUDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))
    return True


def teardown_distributed() -> None:
    """Barrier and destroy the default process group, if any.

    Called at the end of ``tools/train.py`` / ``tools/test.py``: an explicit
    teardown avoids the occasional hang of torch 2.5's gloo process group
    destructor at interpreter exit.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
