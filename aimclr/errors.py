"""The error types that :mod:`aimclr` raises for bad input, and its warning types."""

from __future__ import annotations

__all__ = ["AimCLRError", "AimCLRWarning", "NonFiniteInputError", "SmallDataWarning"]


class AimCLRError(ValueError):
    """Bad input to an :mod:`aimclr` function or module.

    Raised before any state is changed. The message names the expected layout
    (for tensors, e.g. ``(N, C, T, V, M)``) and the shape or value received.
    It subclasses :class:`ValueError`, so ``except ValueError`` also catches it.
    """


class NonFiniteInputError(AimCLRError):
    """An input holds NaN or infinite values where finite numbers are needed.

    Raised by the opt-in finite checks (e.g. ``AimCLR(check_finite_inputs=True)``)
    before any state changes, so a loop can skip the batch and go on with an
    unchanged model. A subclass of :class:`AimCLRError`: catch it alone to skip bad
    data without also hiding layout errors.
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
