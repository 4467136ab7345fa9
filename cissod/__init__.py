"""cissod: class-imbalanced semi-supervised object detection for mmdet 3.x.

``import cissod`` registers every component into mmdet's registries
(``MODELS``, ``HOOKS``, ``METRICS``, ``DATA_SAMPLERS``). Configs load it with
``custom_imports = dict(imports=['cissod'], allow_failed_imports=False)``.
"""
from .stack import check_stack

#: 'current' or 'classic' (cissod.stack); a wrong stack fails here, before
#: mmdet is imported, with one message naming both supported stacks
STACK = check_stack()

from . import datasets, engine, evaluation, models  # noqa: E402,F401
from .utils import allow_numpy1_checkpoints  # noqa: E402

# classic-stack checkpoints (NumPy 1 pickles) resume with weights_only=True
allow_numpy1_checkpoints()

__version__ = '0.1.0'
__all__ = [
    'STACK', 'datasets', 'engine', 'evaluation', 'models', '__version__'
]
