"""cissod: class-imbalanced semi-supervised object detection for mmdet 3.x.

``import cissod`` registers every component into mmdet's registries
(``MODELS``, ``HOOKS``, ``METRICS``, ``DATA_SAMPLERS``). Configs load it with
``custom_imports = dict(imports=['cissod'], allow_failed_imports=False)``.
"""
from . import datasets, engine, evaluation, models  # noqa: F401

__version__ = '0.1.0'
__all__ = ['datasets', 'engine', 'evaluation', 'models', '__version__']
