from .config_checks import check_config, iter_dataset_cfgs
from .setup_env import setup_cissod_env

__all__ = ['check_config', 'iter_dataset_cfgs', 'setup_cissod_env']
