"""The single error type that :mod:`aimclr` raises for bad input."""

from __future__ import annotations

__all__ = ["AimCLRError"]


class AimCLRError(ValueError):
    """Bad input to an :mod:`aimclr` function or module.

    Raised before any state is changed. The message names the expected layout
    (for tensors, e.g. ``(N, C, T, V, M)``) and the shape or value received.
    It subclasses :class:`ValueError`, so ``except ValueError`` also catches it.
    """
