"""Validation helpers for numpy arrays in :mod:`aimclr.data`.

The library-wide helpers in :mod:`aimclr._checks` work on tensors; data files and
preprocessing work on numpy arrays, so the same style of message lives here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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


_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def _leading_bytes(path: Path, what: str) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(6)
    except OSError as err:
        raise AimCLRError(f"cannot read {what} {str(path)!r}: {err}") from err


def _object_message(path: Path, what: str, expected: str) -> str:
    return (
        f"{what} {str(path)!r} holds Python objects (object dtype), which are refused: "
        f"reading them would unpickle, and an untrusted file could run code. Expected "
        f"{expected}; save plain arrays (numbers, or strings as fixed-width str)"
    )


def load_npy(path: Path, what: str, expected: str, mmap: bool = False) -> np.ndarray:
    """``np.load`` of one ``.npy`` array without pickle; every failure names the file.

    NumPy reads a file without the ``.npy`` header as a pickle and then advises
    ``allow_pickle=True``; the header is checked first so that a damaged or
    foreign file gets a plain message instead.

    Args:
        path: the file.
        what: what the file is, for messages (``"label file"``).
        expected: what it should hold, for messages.
        mmap: open memory-mapped (``mmap_mode="r"``).

    Raises:
        AimCLRError: unreadable file, no ``.npy`` header (e.g. garbage or an
            ``.npz`` archive), truncated data, or an object array.
    """
    head = _leading_bytes(path, what)
    if not head.startswith(_NPY_MAGIC):
        kind = "an .npz archive" if head.startswith(_ZIP_MAGIC) else f"starts with {head!r}"
        raise AimCLRError(
            f"{what} {str(path)!r} is not a .npy file (it lacks the .npy header; {kind}); "
            f"expected {expected}"
        )
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as err:
        if "pickle" in str(err) or "Python objects" in str(err):
            raise AimCLRError(_object_message(path, what, expected)) from err
        raise AimCLRError(
            f"cannot read {what} {str(path)!r} as .npy (truncated or damaged?): {err}; "
            f"expected {expected}"
        ) from err
    except Exception as err:  # numpy and the OS raise several types for a damaged file
        raise AimCLRError(
            f"cannot read {what} {str(path)!r} as .npy (truncated or damaged?): {err}; "
            f"expected {expected}"
        ) from err
    if not isinstance(arr, np.ndarray):
        raise AimCLRError(f"{what} {str(path)!r} must hold one array ({expected})")
    return arr


def open_npz(path: Path, what: str) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` archive without pickle; failures name the file and key.

    Raises:
        AimCLRError: not a zip archive (e.g. a single ``.npy`` file or garbage),
            a damaged archive or member, or an object array.
    """
    head = _leading_bytes(path, what)
    if not head.startswith(_ZIP_MAGIC):
        kind = "a single .npy array" if head.startswith(_NPY_MAGIC) else f"starts with {head!r}"
        raise AimCLRError(
            f"{what} {str(path)!r} is not an .npz archive of named arrays ({kind})"
        )
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as err:  # zipfile / numpy / OS errors for a malformed archive
        raise AimCLRError(
            f"cannot read {what} {str(path)!r} as an .npz archive (damaged?): {err}"
        ) from err
    content: dict[str, np.ndarray] = {}
    with archive:
        for key in archive.files:
            try:
                content[key] = archive[key]
            except ValueError as err:
                if "pickle" in str(err) or "Python objects" in str(err):
                    message = _object_message(path, f"key {key!r} of {what}", "plain arrays")
                    raise AimCLRError(message) from err
                raise AimCLRError(
                    f"cannot read key {key!r} of {what} {str(path)!r} (damaged?): {err}"
                ) from err
            except Exception as err:  # zlib, CRC or truncation errors of one member
                raise AimCLRError(
                    f"cannot read key {key!r} of {what} {str(path)!r} (damaged?): {err}"
                ) from err
    return content
