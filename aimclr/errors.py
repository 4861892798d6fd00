"""The error type that :mod:`aimclr` raises for bad input, and its warning types."""

from __future__ import annotations

__all__ = ["AimCLRError", "AimCLRWarning", "SmallDataWarning"]


class AimCLRError(ValueError):
    """Bad input to an :mod:`aimclr` function or module.

    Raised before any state is changed. The message names the expected layout
    (for tensors, e.g. ``(N, C, T, V, M)``) and the shape or value received.
    It subclasses :class:`ValueError`, so ``except ValueError`` also catches it.
    """


class AimCLRWarning(UserWarning):
    """Input that :mod:`aimclr` accepts but that deserves a look.

    For example a data file whose joint names do not match its declared layout,
    or sequences left out because they hold NaN. Silence one kind with
    :func:`warnings.filterwarnings` and the subclass, or all of them with this
    class.
    """


class SmallDataWarning(AimCLRWarning):
    """A setting that outgrows the data it is used with; the message gives the numbers.

    Raised by :func:`aimclr.data.check_knn_k` (and so by the kNN functions of
    :mod:`aimclr.eval`) when ``k`` exceeds the training set or its smallest
    class, and by :func:`aimclr.data.check_queue_size` when the negative queue
    is longer than the training set.
    """
