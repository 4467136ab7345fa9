"""cissod: class-imbalanced semi-supervised object detection for MMDetection 3.x."""
from setuptools import find_packages, setup

setup(
    name='cissod',
    version='0.1.0',
    description=('Gradient-based sampling (GbR, GbT, CrS) for class-imbalanced '
                 'semi-supervised object detection, as an MMDetection 3.x plugin'),
    packages=find_packages(
        include=['cissod', 'cissod.*', 'cissod_core', 'cissod_core.*']),
    python_requires='>=3.8',
    install_requires=[
        'torch>=2.0', 'mmengine==0.10.7', 'mmcv>=2.0.0rc4,<2.2.0',
        'mmdet==3.3.0', 'pycocotools', 'numpy'
    ],
    license='Apache-2.0',
)
