"""An image-only COCO file for a plain folder of unlabeled images."""
import os.path as osp
from typing import Any, Dict, Iterable, List, Mapping, Sequence

from .coco_checks import DataCheckError, Progress, _identity, list_files

__all__ = ['IMAGE_EXTENSIONS', 'image_folder_to_coco']

#: Extensions (lower case) taken as images.
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff',
                    '.webp')


def image_folder_to_coco(folder: str,
                         categories: Sequence[Mapping[str, Any]],
                         first_id: int = 1,
                         extensions: Iterable[str] = IMAGE_EXTENSIONS,
                         progress: Progress = None) -> Dict[str, Any]:
    """COCO ``images`` (sizes read from the files) for every image under
    ``folder``, with ``annotations: []``.

    Args:
        folder: Directory searched recursively; ``file_name`` is relative
            to it.
        categories: The dataset's categories (copied, so the file matches
            the labeled file).
        first_id: Id of the first image (files sorted by path).
        extensions: File extensions taken as images.
        progress: Optional ``progress(iterable, desc, total)`` wrapper.

    Raises:
        DataCheckError: ``folder`` is missing, holds no image, or a file
            cannot be read as an image.
    """
    from PIL import Image, UnidentifiedImageError
    progress = progress or _identity
    if not osp.isdir(folder):
        raise DataCheckError(
            f'unlabeled image folder {folder} does not exist; pass a folder '
            'of images or an image-only COCO file.')
    names = list_files(folder, tuple(e.lower() for e in extensions))
    if not names:
        raise DataCheckError(
            f'unlabeled image folder {folder} holds no image '
            f'({", ".join(IMAGE_EXTENSIONS)}).')
    images: List[Dict[str, Any]] = []
    for i, name in enumerate(progress(names, 'read image sizes',
                                      len(names))):
        path = osp.join(folder, name)
        try:
            with Image.open(path) as im:
                width, height = im.size
        except (UnidentifiedImageError, OSError) as e:
            raise DataCheckError(
                f'unlabeled image {path} cannot be read as an image ({e}); '
                'replace or remove it.') from None
        images.append(dict(id=first_id + i, file_name=name.replace(osp.sep,
                                                                   '/'),
                           width=width, height=height))
    return dict(
        images=images,
        annotations=[],
        categories=[dict(c) for c in categories])
