"""Running mean that turns into an exponential moving average.

For the n-th update ``x_n`` (n = 1, 2, ...):

    m_n   = 1 - 1/n      if n <= exact_updates       (exact running mean)
          = momentum     otherwise                   (EMA)
    avg_n = m_n * avg_{n-1} + (1 - m_n) * x_n
          = avg_{n-1} + (1 - m_n) * (x_n - avg_{n-1})     (as computed: lerp)

So ``avg_n = (x_1 + ... + x_n) / n`` exactly for ``n <= exact_updates`` (up to
floating-point rounding), and afterwards an EMA with factor ``momentum``
seeded by that mean. ``n = 1`` always copies ``x_1`` (``m_1 = 0``), so an EMA
with ``exact_updates = 0`` is not biased towards the zero initial value:
``exact_updates`` is treated as at least 1.

GbR uses ``exact_updates = warmup_iters`` (8000) for the gradient matrix and
``exact_updates = round(1 / (1 - momentum))`` (1000) for the per-branch mean
of the RoI weights.
"""
from typing import Optional, Sequence, Union

import torch
from torch import Tensor, nn

__all__ = ['average_momentum', 'RunningAverage']


def average_momentum(n: int, momentum: float, exact_updates: int) -> float:
    """Weight ``m_n`` of the previous average for the n-th update (n >= 1)."""
    if n < 1:
        raise ValueError(f'update index must be >= 1, got {n}')
    if n <= max(int(exact_updates), 1):
        return 1.0 - 1.0 / n
    return float(momentum)


class RunningAverage(nn.Module):
    """Exact running mean for the first updates, then EMA (module docstring).

    State (saved in ``state_dict``): ``value`` (``shape``) and ``count``
    (int64 scalar, number of updates so far). A Python mirror of ``count`` is
    kept so that reading it never synchronises with the device; it is
    refreshed when a state dict is loaded.

    Args:
        shape (Sequence[int] | int): shape of the averaged tensor; ``()`` for
            a scalar.
        momentum (float): EMA factor after the exact phase, in [0, 1).
        exact_updates (int, optional): number of updates averaged exactly;
            ``round(1 / (1 - momentum))`` when None.
        dtype (torch.dtype): dtype of ``value``.
    """

    def __init__(self,
                 shape: Union[Sequence[int], int] = (),
                 momentum: float = 0.999,
                 exact_updates: Optional[int] = None,
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f'momentum must be in [0, 1), got {momentum}')
        if isinstance(shape, int):
            shape = (shape, )
        self.momentum = float(momentum)
        if exact_updates is None:
            exact_updates = int(round(1.0 / (1.0 - momentum)))
        self.exact_updates = int(exact_updates)
        self.register_buffer('value', torch.zeros(tuple(shape), dtype=dtype))
        self.register_buffer('count', torch.zeros((), dtype=torch.long))
        self._count = 0

    @property
    def num_updates(self) -> int:
        """Number of updates so far (host-side, no device sync)."""
        return self._count

    def next_momentum(self) -> float:
        """``m_n`` that the next :meth:`update` will use."""
        return average_momentum(self._count + 1, self.momentum,
                                self.exact_updates)

    @torch.no_grad()
    def update(self, x: Union[Tensor, float]) -> Tensor:
        """Fold in one observation ``x`` (same shape as ``value``).

        Returns:
            Tensor: the updated average (the ``value`` buffer itself).
        """
        m = self.next_momentum()
        if not torch.is_tensor(x):
            x = torch.tensor(x, dtype=self.value.dtype,
                             device=self.value.device)
        x = x.to(device=self.value.device, dtype=self.value.dtype)
        # one pass: value + (1 - m) * (x - value); exact copy of x at n = 1
        self.value.lerp_(x, 1.0 - m)
        self.count += 1
        self._count += 1
        return self.value

    def reset(self) -> None:
        """Forget everything (zero value and count)."""
        self.value.zero_()
        self.count.zero_()
        self._count = 0

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)
        self._count = int(self.count.item())

    def extra_repr(self) -> str:
        return (f'shape={tuple(self.value.shape)}, momentum={self.momentum}, '
                f'exact_updates={self.exact_updates}')
