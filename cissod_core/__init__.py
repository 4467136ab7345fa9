"""cissod_core: the math and state of CISSOD, with no mmdet or mmengine.

Everything here needs only torch, numpy and Pillow, so it is importable,
testable and reusable without the OpenMMLab stack (a test enforces it).
The mmdet 3.x glue in :mod:`cissod` subclasses or registers these parts.

=====================  ==================================================
package                what it holds
=====================  ==================================================
:mod:`.gbr`            gradient-based reweighting: G, solvers, the
                       ``GradientBalancer`` state, the loss branches
:mod:`.gbt`            gradient-based thresholding: class score means and
                       thresholds (``ClassThresholds`` state)
:mod:`.crs`            class-rebalancing sampling: the CrS terms, the
                       pseudo-label pool, RFS factors, the sampler's draw
                       arithmetic, the ``PseudoLabelBatch`` hand-off
:mod:`.class_groups`   class groups by name -> index, one error for
                       unknown names (metric and telemetry)
:mod:`.splits`         CI-SSOD split builders (COCO, COCO->O365, LVIS)
:mod:`.evaluation`     AP / AR of precision arrays over category groups,
                       LVIS' per-image detection limit, synthetic
                       COCO- / LVIS-shaped evaluation data
:mod:`.demo`           the synthetic demo dataset generator
=====================  ==================================================
"""
__version__ = '0.1.0'
__all__ = ['__version__']
