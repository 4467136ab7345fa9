"""CI-SSOD split builders (pure python / numpy, no mmdet / mmengine)."""
from .benchmark import (
                        COCO_CLASSES,
                        COCO_SPLIT1_MINORITY,
                        COCO_SPLIT2_MINORITY,
                        COCO_SPLITS,
                        COCO_TO_O365_ALIASES,
                        DEFAULT_COCO_TO_O365_FILE,
                        LVIS_FREQUENCY_GROUPS,
                        build_coco2o365_split,
                        build_coco_split,
                        build_coco_to_o365_mapping,
                        build_lvis_split,
                        derive_coco_to_o365_names,
                        load_coco_to_o365_names,
                        validate_split,
)
from .ci_ssod import build_ci_ssod_split, format_split_stats

__all__ = [
    'build_ci_ssod_split', 'format_split_stats', 'COCO_CLASSES',
    'COCO_SPLIT1_MINORITY', 'COCO_SPLIT2_MINORITY', 'COCO_SPLITS',
    'COCO_TO_O365_ALIASES', 'DEFAULT_COCO_TO_O365_FILE',
    'LVIS_FREQUENCY_GROUPS', 'build_coco_split', 'derive_coco_to_o365_names',
    'load_coco_to_o365_names', 'build_coco_to_o365_mapping',
    'build_coco2o365_split', 'build_lvis_split', 'validate_split'
]
