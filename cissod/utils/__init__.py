from .checkpoint import allow_numpy1_checkpoints, load_checkpoint_file
from .config_checks import check_config, iter_dataset_cfgs
from .setup_env import load_cli_config, setup_cissod_env

__all__ = [
    'allow_numpy1_checkpoints', 'load_checkpoint_file', 'check_config',
    'iter_dataset_cfgs', 'setup_cissod_env', 'load_cli_config'
]
