"""Cut large images (aerial, microscopy) and their boxes into tiles."""
from typing import List, Sequence, Tuple

import numpy as np

__all__ = ['tile_windows', 'boxes_in_window']


def tile_windows(width: int, height: int,
                 tile: int) -> List[Tuple[int, int, int, int]]:
    """Non-overlapping ``tile`` x ``tile`` windows ``(x0, y0, x1, y1)``
    covering the image row by row; the last row / column is shifted back
    inside the image (it overlaps its neighbour) instead of being cut short.
    An image smaller than ``tile`` gives one window of its own size."""
    if tile <= 0:
        raise ValueError(f'tile must be positive, got {tile}')

    def starts(size: int) -> List[int]:
        if size <= tile:
            return [0]
        out = list(range(0, size - tile + 1, tile))
        if out[-1] + tile < size:
            out.append(size - tile)
        return out

    return [(x, y, min(x + tile, width), min(y + tile, height))
            for y in starts(height) for x in starts(width)]


def boxes_in_window(boxes: np.ndarray,
                    window: Sequence[int],
                    min_visible: float = 0.5) -> Tuple[np.ndarray,
                                                       np.ndarray]:
    """Boxes of one window, clipped and in window coordinates.

    Args:
        boxes: ``(N, 4)`` ``x1, y1, x2, y2`` in image coordinates.
        window: ``(x0, y0, x1, y1)``.
        min_visible: A box is kept when at least this fraction of its area
            lies inside the window (a box cut in two by a tile border stays
            in the tile that holds most of it; a thin sliver is dropped).

    Returns:
        ``(kept boxes (M, 4) in window coordinates, indices (M,) into
        boxes)``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = (float(v) for v in window)
    clipped = np.stack([
        np.clip(boxes[:, 0], x0, x1), np.clip(boxes[:, 1], y0, y1),
        np.clip(boxes[:, 2], x0, x1), np.clip(boxes[:, 3], y0, y1)
    ], axis=1)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    inside = np.clip(clipped[:, 2] - clipped[:, 0], 0, None) * \
        np.clip(clipped[:, 3] - clipped[:, 1], 0, None)
    keep = np.nonzero((area > 0) & (inside >= min_visible * area))[0]
    return clipped[keep] - np.array([x0, y0, x0, y0]), keep
