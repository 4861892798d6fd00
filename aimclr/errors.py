"""The error types that :mod:`aimclr` raises for bad input."""

from __future__ import annotations

__all__ = ["AimCLRError", "NonFiniteInputError"]


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
