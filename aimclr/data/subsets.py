"""Class-balanced label subsets for the semi-supervised protocol."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from aimclr.errors import AimCLRError

__all__ = ["class_balanced_subset"]


def class_balanced_subset(
    labels: Sequence[int] | np.ndarray | torch.Tensor,
    fraction: float,
    generator: torch.Generator | int | None = None,
) -> list[int]:
    """Pick ``round(fraction * count)`` random samples of every class (at least 1).

    The reference semi-supervised feeder keeps, for each class, that many indices
    drawn without replacement, then sorts them. ``round`` is Python's (ties to
    even), as in the reference. Use with :class:`torch.utils.data.Subset` for the
    1 % and 10 % protocols.

    Args:
        labels: ``(N,)`` class index per sample.
        fraction: share of each class to keep, in ``(0, 1]``.
        generator: a :class:`torch.Generator`, an integer seed, or ``None`` for
            torch's global random state.

    Returns:
        Sorted sample indices (Python ints).

    Raises:
        AimCLRError: ``fraction`` outside ``(0, 1]``, labels not a 1-D integer
            sequence, or negative labels.

    Example:
        >>> idx = class_balanced_subset([0] * 10 + [1] * 30, 0.1, generator=0)
        >>> len(idx), sum(i < 10 for i in idx)
        (4, 1)
    """
    if isinstance(fraction, bool) or not 0.0 < fraction <= 1.0:
        raise AimCLRError(f"fraction must lie in (0, 1], got {fraction!r}")
    arr = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise AimCLRError(
            f"labels must be a 1-D sequence of class indices (N,), got shape {arr.shape}, "
            f"dtype {arr.dtype}"
        )
    if arr.size and arr.min() < 0:
        raise AimCLRError(f"labels must be >= 0, got minimum {int(arr.min())}")
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        generator = torch.Generator().manual_seed(int(generator))
    elif generator is not None and not isinstance(generator, torch.Generator):
        raise AimCLRError(
            f"generator must be a torch.Generator, an integer seed or None, got {generator!r}"
        )
    chosen: list[int] = []
    for cls in np.unique(arr):
        members = np.flatnonzero(arr == cls)
        count = max(1, round(fraction * len(members)))
        order = torch.randperm(len(members), generator=generator)[:count].numpy()
        chosen.extend(int(i) for i in members[order])
    return sorted(chosen)
