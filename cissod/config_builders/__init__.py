"""Small builders that turn a dataset description into config dicts.

mmengine resolves a base config's variables when it reads the base, so a
child cannot change a base's ``data_root`` or image scale. Configs for a
user's own data (written by ``tools/prepare_custom_dataset.py``) therefore
inherit a model + schedule config and call these builders with one plain
``custom_data`` dict; the imported functions themselves do not end up in
the config.
"""
from .custom_data import (
                          custom_eval_loader,
                          custom_group_metric,
                          custom_labeled_loader,
                          custom_pipelines,
                          custom_semi_loader,
)

__all__ = [
    'custom_pipelines', 'custom_semi_loader', 'custom_labeled_loader',
    'custom_eval_loader', 'custom_group_metric'
]
