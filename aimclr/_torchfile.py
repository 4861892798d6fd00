"""Reading ``torch.save`` files safely: integrity checked, errors that never advise unsafe loads."""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from aimclr.errors import AimCLRError

__all__ = ["read_torch_file", "verify_archive"]

_UNSAFE = (
    "it is not loaded, because building those objects while reading could run code "
    "from the file; save plain tensors, numbers, strings, lists and dicts instead"
)


def verify_archive(path: Path, what: str) -> None:
    """Check every entry of a ``torch.save`` zip archive against its stored CRC-32.

    :func:`torch.load` reads the entries without checking their CRCs, so bytes that
    changed on disk would load silently as other numbers. This reads the whole file
    once (0.015 s for 20 MB, 0.14 s for 200 MB: ``benchmarks/bench_faults.py``).
    Archives written without CRCs (every CRC zero, as
    ``torch.utils.serialization.config.save.compute_crc32 = False`` writes them) cannot
    be checked and pass.

    Raises:
        AimCLRError: the file is not a zip archive (truncated, empty, or another
            format), or an entry's bytes do not match its CRC-32.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            # All-zero CRCs: written without them (nothing to check against).
            bad = archive.testzip() if any(e.CRC for e in archive.infolist()) else None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as error:
        size = path.stat().st_size if path.exists() else 0
        raise AimCLRError(
            f"{what} {str(path)!r} ({size} bytes) is not a complete checkpoint archive "
            f"({error}): it is truncated (e.g. copied while it was written), damaged, or "
            "not a file written by torch.save"
        ) from None
    if bad is not None:
        raise AimCLRError(
            f"{what} {str(path)!r} is damaged: the entry {bad!r} does not match the CRC-32 "
            "stored when it was written (its bytes changed on disk or in a copy); it is "
            "not loaded. Use another copy of the file"
        )


def read_torch_file(
    path: str | os.PathLike[str],
    what: str,
    map_location: str | torch.device | None = "cpu",
    require_archive: bool = True,
) -> Any:
    """``torch.load(path, weights_only=True)`` with the file checked first.

    Args:
        path: the file.
        what: how messages name the file, e.g. ``"checkpoint"``.
        map_location: where tensors are loaded.
        require_archive: refuse files that are not zip archives (``torch.save``'s
            format since torch 1.6); ``False`` also reads the older format, whose
            bytes cannot be checked.

    Returns:
        The loaded object: tensors, numbers, strings and plain containers only.

    Raises:
        AimCLRError: the file is missing, empty, truncated, damaged (CRC-32),
            holds objects other than plain data, or cannot be read; the message names
            the file and never suggests an unsafe load.
    """
    path = Path(path)
    if not path.is_file():
        raise AimCLRError(f"{what} file not found: {path}")
    try:
        size = path.stat().st_size
    except OSError as error:
        raise AimCLRError(f"{what} {str(path)!r} cannot be read: {error.strerror}") from None
    if size == 0:
        raise AimCLRError(f"{what} {str(path)!r} is empty (0 bytes): it was never written "
                          "completely")  # fmt: skip
    if require_archive or zipfile.is_zipfile(path):
        verify_archive(path, what)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"GLOBAL ([\w.]+)", str(error))
        named = f" (e.g. {found.group(1)})" if found else ""
        raise AimCLRError(
            f"{what} {str(path)!r} holds objects other than plain data{named}; {_UNSAFE}"
        ) from None
    except OSError as error:
        raise AimCLRError(f"{what} {str(path)!r} cannot be read: {error.strerror}") from None
    except (RuntimeError, EOFError, IndexError, KeyError, ValueError, TypeError,
            AttributeError, UnicodeDecodeError) as error:  # fmt: skip
        # torch's own messages for damaged files; keep their first sentence only (some
        # of torch's messages go on to suggest weights_only=False).
        first = str(error).split(". ")[0].strip()[:200]
        detail = type(error).__name__ + ("" if "weights_only" in first else f": {first}")
        raise AimCLRError(
            f"{what} {str(path)!r} cannot be read ({detail}): it is damaged or not a file "
            "written by torch.save"
        ) from None
