"""cissod: class-imbalanced semi-supervised object detection for
MMDetection 3.x."""
from setuptools import find_packages, setup

setup(
    name='cissod',
    version='0.1.0',
    description=('Gradient-based sampling (GbR, GbT, CrS) for '
                 'class-imbalanced semi-supervised object detection, as an '
                 'MMDetection 3.x plugin'),
    packages=find_packages(
        include=['cissod', 'cissod.*', 'cissod_core', 'cissod_core.*']),
    python_requires='>=3.9',
    # What the code needs, never a stack: torch, mmengine, mmcv and mmdet are
    # not listed, because two distributions provide each import name
    # (onedl-mmcv or mmcv, ...) and pip would replace the one a user has.
    # `import cissod` checks that they form a supported stack
    # (cissod/stack.py); tools/install.sh installs one.
    install_requires=['numpy', 'pycocotools', 'matplotlib'],
    extras_require={'eval': ['faster-coco-eval>=1.6,<2']},
    license='Apache-2.0',
)
