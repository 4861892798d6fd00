"""Input validation shared by the whole library.

Every public entry point validates with these helpers before touching state, so
errors look the same everywhere: what was expected, and what was received.

The tensor checks read metadata only (type, rank, dtype, shape, device): they never
synchronise a GPU and they trace under ``torch.compile``. The value checks
(:func:`check_finite`) read the data and synchronise once; they are opt-in where
they guard a hot path.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import torch

from aimclr._autocast import autocast_dtype
from aimclr.errors import AimCLRError, NonFiniteInputError

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


def check_same_device(tensors: Mapping[str, torch.Tensor]) -> None:
    """Raise unless every tensor lives on one device; the message names each device."""
    devices = [x.device for x in tensors.values()]
    if any(device != devices[0] for device in devices):
        described = ", ".join(f"{name} on {x.device}" for name, x in tensors.items())
        raise AimCLRError(
            f"{' and '.join(tensors)} must be on one device, got {described}; move them "
            "with .to(device)"
        )


def check_matches_weight(x: torch.Tensor, weight: torch.Tensor, what: str, owner: str) -> None:
    """Raise unless ``x`` is on ``weight``'s device and, outside autocast, of its dtype.

    Args:
        x: the input.
        weight: a parameter of the module that takes ``x``.
        what: ``x`` with its layout for the message, e.g. ``"x (N, D)"``.
        owner: the module, e.g. ``"head"``.
    """
    mixed = autocast_dtype(x.device.type) is not None  # autocast casts per op
    if x.device != weight.device or (x.dtype != weight.dtype and not mixed):
        raise AimCLRError(
            f"{what} must be on the {owner}'s device {weight.device} and (outside "
            f"autocast) of its dtype {weight.dtype}, got {describe(x)} on {x.device}"
        )


def check_int(
    value: object,
    name: str,
    minimum: int = 1,
    maximum: int | None = None,
    *,
    meaning: str = "",
) -> int:
    """Return ``value`` as an ``int``; raise unless it is an integer in range.

    Python and NumPy integers pass; ``bool``, floats (even ``2.0``) and tensors do not.

    Args:
        value: the value to check.
        name: argument name used in the message.
        minimum: smallest allowed value.
        maximum: largest allowed value, or ``None`` for no bound.
        meaning: what the number is, appended in brackets (e.g. ``"queue length K"``).
    """
    number = None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        number = int(value)
    if number is None or number < minimum or (maximum is not None and number > maximum):
        bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        what = f" ({meaning})" if meaning else ""
        raise AimCLRError(f"{name} must be an int {bounds}{what}, got {value!r}")
    return number


def _check_real(value: object, name: str, expected: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise AimCLRError(f"{name} must be {expected}, got {value!r}")
    return float(value)


def check_positive(value: float, name: str) -> None:
    """Raise unless ``value`` is a finite number greater than zero."""
    number = _check_real(value, name, "a positive finite number")
    if not number > 0 or number == float("inf"):
        raise AimCLRError(f"{name} must be a positive finite number, got {value!r}")


def check_nonnegative(value: float, name: str) -> None:
    """Raise unless ``value`` is a finite number ``>= 0``."""
    number = _check_real(value, name, "a finite number >= 0")
    if not 0.0 <= number < float("inf"):
        raise AimCLRError(f"{name} must be a finite number >= 0, got {value!r}")


def check_probability(value: float, name: str) -> None:
    """Raise unless ``0 <= value <= 1``."""
    number = _check_real(value, name, "a number in [0, 1]")
    if not 0.0 <= number <= 1.0:
        raise AimCLRError(f"{name} must lie in [0, 1], got {value!r}")


def check_finite(tensors: Mapping[str, torch.Tensor], what: str = "") -> None:
    """Raise :class:`~aimclr.errors.NonFiniteInputError` if any tensor holds NaN or inf.

    The test runs on the tensors' device and synchronises once (one boolean per tensor
    comes back to the host); only the error path looks further, to name the tensors and
    the first axis' indices (samples) that hold non-finite values.

    Args:
        tensors: the tensors by name; all on one device.
        what: appended to the message, e.g. ``"; nothing was changed"``.
    """
    if not tensors:
        return
    flags = torch.stack([torch.isfinite(x).all() for x in tensors.values()])
    if bool(flags.all()):  # the one synchronisation of the check
        return
    bad = []
    for (name, x), finite in zip(tensors.items(), flags.tolist(), strict=True):
        if not finite:
            rows = (~torch.isfinite(x)).reshape(x.shape[0], -1).any(dim=1) if x.dim() else None
            where = "" if rows is None else f" at index {rows.nonzero().flatten().tolist()[:10]}"
            bad.append(f"{name} ({describe(x)}){where}")
    raise NonFiniteInputError(f"non-finite values (NaN or inf) in {', '.join(bad)}{what}")


def check_bool(value: object, name: str) -> bool:
    """Return ``value``; raise unless it is a ``bool`` (a string such as ``"no"`` is truthy)."""
    if not isinstance(value, bool):
        raise AimCLRError(f"{name} must be True or False, got {value!r}")
    return value


def check_module(value: object, name: str) -> None:
    """Raise unless ``value`` is a :class:`torch.nn.Module`."""
    if not isinstance(value, torch.nn.Module):
        raise AimCLRError(f"{name} must be a torch.nn.Module, got {type(value).__name__}")


def check_generator(generator: object, name: str = "generator") -> None:
    """Raise unless ``generator`` is ``None`` or a :class:`torch.Generator` (not a seed)."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise AimCLRError(
            f"{name} must be a torch.Generator or None, got {type(generator).__name__}; "
            "for a seed pass torch.Generator().manual_seed(seed)"
        )


def check_device(device: object, name: str = "device") -> torch.device | None:
    """Return ``device`` as a :class:`torch.device` (``None`` stays ``None``).

    Raises:
        AimCLRError: ``device`` does not name a torch device.
    """
    if device is None or isinstance(device, torch.device):
        return device
    try:
        parsed: torch.device = torch.device(device)  # type: ignore[call-overload]
        return parsed
    except (RuntimeError, TypeError) as error:
        raise AimCLRError(
            f"{name} must name a torch device such as 'cpu' or 'cuda:0', got {device!r}"
        ) from error


def check_labelled_sample(sample: object, name: str, hint: str = "") -> None:
    """Raise unless ``sample`` (item 0 of data set ``name``) is ``(x, label, ...)``.

    A tuple or list of at least two items passes; further items (e.g. an index) are
    the caller's to ignore. ``hint`` is appended to the message.
    """
    if isinstance(sample, (tuple, list)) and len(sample) >= 2:
        return
    got = (f"a {type(sample).__name__} of {len(sample)} item(s)"
           if isinstance(sample, (tuple, list)) else f"a {type(sample).__name__}")  # fmt: skip
    raise AimCLRError(
        f"{name} must yield labelled samples (x (C, T, V, M), label), but {name}[0] is "
        f"{got}{hint}"
    )
