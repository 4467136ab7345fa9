"""The batch stream's arithmetic: seeds, images per source, draw weights.

Pure functions of the CrS sampler (``ClassRebalancingMultiSourceSampler``
of the mmdet glue), which draws every global batch from a generator seeded
by :func:`batch_seed` and every image in proportion to
:func:`draw_weights` of its repeat factor.
"""
from typing import List, Sequence, Union

import torch
from torch import Tensor

__all__ = ['batch_seed', 'num_per_source', 'draw_weights', 'REPEAT_MODES']

_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    """One step of the SplitMix64 mixer: a bijection of 64-bit integers."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def batch_seed(seed: int, global_batch: int) -> int:
    """Seed (63 bits) of the generator of one global batch.

    Distinct (seed, batch) pairs give unrelated seeds (no ``seed + g``
    overlaps between runs with nearby seeds).
    """
    return _splitmix64(_splitmix64(seed & _MASK64) ^ global_batch) >> 1


def num_per_source(batch_size: int,
                   source_ratio: Sequence[Union[int, float]]) -> List[int]:
    """Images per source in a batch, computed as mmdet's sampler does."""
    nums = [int(batch_size * r / sum(source_ratio)) for r in source_ratio]
    nums[0] = batch_size - sum(nums[1:])
    return nums


#: How repeat factors become draw weights (see the module docstring).
REPEAT_MODES = ('ceil', 'proportional')


def draw_weights(factors: Tensor, repeat_mode: str = 'ceil') -> Tensor:
    """Draw weights of images with repeat factors ``factors``.

    Args:
        factors (Tensor): ``(N,)`` repeat factors ``r(I) >= 0``.
        repeat_mode (str): ``'ceil'``: ``ceil(r(I))``, the number of copies
            mmengine's ``ClassBalancedDataset`` makes; ``'proportional'``:
            ``r(I)``.

    Returns:
        Tensor: ``(N,)`` draw weights, same dtype.
    """
    if repeat_mode == 'ceil':
        return torch.ceil(factors)
    if repeat_mode == 'proportional':
        return factors
    raise ValueError(f'repeat_mode must be one of {REPEAT_MODES}, got '
                     f'{repeat_mode!r}')
