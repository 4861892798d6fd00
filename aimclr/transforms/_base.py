"""Validation, batching and random-draw helpers shared by the transforms."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from aimclr._checks import check_floating, check_rank, check_tensor, describe
from aimclr.errors import AimCLRError

LAYOUT = "(N, C, T, V, M) or (C, T, V, M)"
_LAYOUTS = ("(N, C, T, V, M)", "(C, T, V, M)")


def check_skeleton(x: object, name: str = "x") -> torch.Tensor:
    """Raise unless ``x`` is a floating ``(N, C, T, V, M)`` or ``(C, T, V, M)`` tensor."""
    tensor = check_tensor(x, name)
    check_rank(tensor, name, _LAYOUTS)
    check_floating(tensor, name)
    return tensor


def as_batch(x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """Return ``(x with a batch axis, whether x was a single sample)``."""
    if x.dim() == 4:
        return x.unsqueeze(0), True
    return x, False


def check_channels(x: torch.Tensor, expected: int, what: str, name: str = "x") -> None:
    """Raise unless ``x`` (either layout) has ``expected`` coordinate channels."""
    if x.shape[-4] != expected:
        raise AimCLRError(
            f"{what} needs C = {expected} coordinates: {name} must have layout {LAYOUT} "
            f"with C = {expected}, got {describe(x)}"
        )


def check_param(
    value: object,
    name: str,
    shape: Sequence[int],
    layout: str,
    kind: str,
) -> torch.Tensor:
    """Raise unless ``value`` is a tensor of exactly ``shape`` and the dtype ``kind``.

    Args:
        value: the parameter to check.
        name: argument name used in the message.
        shape: the exact shape required (no broadcasting).
        layout: the axes of ``shape`` in words, e.g. ``"(N, 3, 3)"``.
        kind: ``"floating"``, ``"integer"`` or ``"bool"``.
    """
    tensor = check_tensor(value, name)
    if tuple(tensor.shape) != tuple(shape):
        raise AimCLRError(
            f"{name} must have shape {layout} = {tuple(shape)} to match x, got {describe(tensor)}"
        )
    ok = {
        "floating": tensor.is_floating_point(),
        "integer": not tensor.is_floating_point()
        and not tensor.is_complex()
        and tensor.dtype != torch.bool,
        "bool": tensor.dtype == torch.bool,
    }[kind]
    if not ok:
        raise AimCLRError(f"{name} must be a {kind} tensor, got {describe(tensor)}")
    return tensor


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype arithmetic runs in: float32 for the half types, else ``dtype`` itself."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def param_device(generator: torch.Generator | None) -> torch.device:
    """Where per-sample parameters are drawn: the generator's device, else the CPU.

    Generators are bound to one device, so parameters are drawn there and moved to
    the data afterwards; without a generator the CPU default generator is used.
    """
    return generator.device if generator is not None else torch.device("cpu")


def uniform(
    shape: Sequence[int],
    low: float | torch.Tensor,
    high: float | torch.Tensor,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """``U(low, high)`` draws in float64 (parameters are small; precision is free)."""
    u = torch.rand(
        tuple(shape), generator=generator, device=param_device(generator), dtype=torch.float64
    )
    return low + (high - low) * u


def coin(n: int, p: float, generator: torch.Generator | None) -> torch.Tensor:
    """``n`` independent Bernoulli(``p``) draws as a bool tensor ``(n,)``."""
    return torch.rand(n, generator=generator, device=param_device(generator)) < p


def check_range(value: tuple[float, float], name: str) -> tuple[float, float]:
    """Raise unless ``value`` is a pair ``(low, high)`` of finite numbers with low <= high."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise AimCLRError(f"{name} must be a pair (low, high), got {value!r}") from None
    if not low <= high or abs(low) == float("inf") or abs(high) == float("inf"):
        raise AimCLRError(f"{name} must be finite with low <= high, got {value!r}")
    return low, high
