"""Input validation shared by the whole library.

Every public entry point validates with these helpers before touching state, so
errors look the same everywhere: what was expected, and what was received.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from aimclr.errors import AimCLRError

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def describe(x: torch.Tensor) -> str:
    """Return ``shape (..), dtype ..`` for an error message."""
    return f"shape {tuple(x.shape)}, dtype {x.dtype}"


def check_tensor(x: object, name: str) -> torch.Tensor:
    """Raise unless ``x`` is a tensor."""
    if not isinstance(x, torch.Tensor):
        raise AimCLRError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def check_rank(x: torch.Tensor, name: str, layouts: Sequence[str]) -> None:
    """Raise unless ``x`` has the rank of one of ``layouts``.

    Args:
        x: the tensor to check.
        name: argument name used in the message.
        layouts: accepted layouts such as ``"(N, C, T, V, M)"``; the rank of each
            is its number of comma-separated axes.
    """
    ranks = [layout.count(",") + 1 for layout in layouts]
    if x.dim() not in ranks:
        expected = " or ".join(layouts)
        raise AimCLRError(f"{name} must have layout {expected}, got {describe(x)}")


def check_floating(x: torch.Tensor, name: str) -> None:
    """Raise unless ``x`` has a floating dtype."""
    if x.dtype not in FLOAT_DTYPES:
        raise AimCLRError(
            f"{name} must be a floating tensor (float16, bfloat16, float32 or float64), "
            f"got {describe(x)}"
        )


def check_positive(value: float, name: str) -> None:
    """Raise unless ``value`` is a finite number greater than zero."""
    if not value > 0 or value == float("inf"):
        raise AimCLRError(f"{name} must be a positive finite number, got {value!r}")


def check_probability(value: float, name: str) -> None:
    """Raise unless ``0 <= value <= 1``."""
    if not 0.0 <= value <= 1.0:
        raise AimCLRError(f"{name} must lie in [0, 1], got {value!r}")
