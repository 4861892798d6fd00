"""Validation helpers for numpy arrays in :mod:`aimclr.data`.

The library-wide helpers in :mod:`aimclr._checks` work on tensors; data files and
preprocessing work on numpy arrays, so the same style of message lives here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aimclr.errors import AimCLRError


def describe_array(x: np.ndarray) -> str:
    """Return ``shape (..), dtype ..`` for an error message."""
    return f"shape {tuple(x.shape)}, dtype {x.dtype}"


def as_float_array(x: object, name: str, layouts: Sequence[str]) -> np.ndarray:
    """Convert ``x`` to a numpy array and check its rank and dtype.

    Args:
        x: a numpy array, a tensor on the CPU or anything :func:`numpy.asarray` takes.
        name: argument name used in messages.
        layouts: accepted layouts such as ``"(C, T, V, M)"``; the rank of each is
            its number of comma-separated axes.

    Raises:
        AimCLRError: ``x`` is not numeric floating data or has another rank.
    """
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError, RuntimeError) as err:
        raise AimCLRError(f"{name} must be array-like, got {type(x).__name__}: {err}") from err
    ranks = [layout.count(",") + 1 for layout in layouts]
    expected = " or ".join(layouts)
    if arr.ndim not in ranks:
        raise AimCLRError(f"{name} must have layout {expected}, got {describe_array(arr)}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise AimCLRError(
            f"{name} must hold floating point coordinates with layout {expected}, "
            f"got {describe_array(arr)}"
        )
    return arr


def check_index(value: int, name: str, size: int, axis_name: str) -> None:
    """Raise unless ``0 <= value < size``."""
    if not 0 <= value < size:
        raise AimCLRError(
            f"{name} must be an index in [0, {size}) along the {axis_name} axis, got {value}"
        )


def check_positive_int(value: int, name: str) -> None:
    """Raise unless ``value`` is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise AimCLRError(f"{name} must be an integer >= 1, got {value!r}")
