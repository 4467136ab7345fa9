"""Data transforms of cissod (registered in mmdet's ``TRANSFORMS``)."""
from .loading import BrokenImageError, LoadImageFromFile

__all__ = ['BrokenImageError', 'LoadImageFromFile']
