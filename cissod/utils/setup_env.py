"""Process-level setup shared by ``tools/train.py`` and ``tools/test.py``."""
import os.path as osp
from typing import Optional

from mmengine.config import Config


def setup_cissod_env() -> None:
    """Register mmdet's and cissod's modules and tune torch.compile caches.

    ``import cissod`` registers every cissod component into mmdet's
    registries; configs also list it in ``custom_imports`` so that mmdet's
    own tools work with them.
    """
    from mmdet.utils import setup_cache_size_limit_of_dynamo

    import cissod  # noqa: F401  (registration side effects)
    setup_cache_size_limit_of_dynamo()


def load_cli_config(config: str, launcher: str = 'none',
                    cfg_options: Optional[dict] = None,
                    work_dir: Optional[str] = None) -> Config:
    """Load ``config`` with the overrides shared by train.py and test.py.

    The work dir is ``work_dir`` if given, else the config's, else
    ``./work_dirs/<config name>`` (mmdet's convention). Under
    ``--launcher pytorch`` without GPUs the processes use gloo
    (:func:`cissod.engine.setup_cpu_distributed`).
    """
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    from cissod.engine import setup_cpu_distributed
    setup_cpu_distributed(cfg)  # torchrun on a machine without GPUs
    return cfg
