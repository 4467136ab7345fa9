"""A user's own COCO-format data: checks, class statistics, schedules."""
from .class_statistics import rfs_threshold_for, split_majority_minority
from .coco_checks import (
                          CocoFileSummary,
                          DataCheckError,
                          check_coco_file,
                          check_finite_predictions,
                          check_image_files,
                          check_split,
                          class_frequency_table,
                          load_coco_json,
)
from .image_folder import IMAGE_EXTENSIONS, image_folder_to_coco
from .schedule_scaling import (
                          ReferenceSchedule,
                          scale_schedule,
                          schedule_factor,
)

__all__ = [
    'CocoFileSummary', 'DataCheckError', 'check_coco_file',
    'check_finite_predictions',
    'check_image_files', 'check_split', 'class_frequency_table',
    'load_coco_json', 'IMAGE_EXTENSIONS', 'image_folder_to_coco',
    'split_majority_minority', 'rfs_threshold_for', 'ReferenceSchedule',
    'scale_schedule', 'schedule_factor'
]
