"""Checkpoint files that a crash never leaves torn, read back without running code."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from aimclr.errors import AimCLRError

__all__ = ["load_checkpoint", "save_checkpoint"]


def save_checkpoint(state: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``state`` with :func:`torch.save` so that a crash never leaves a torn file.

    The bytes go to a temporary file in the same folder, are flushed to disk, and
    the file is then renamed over ``path`` (an atomic replace on POSIX and
    Windows) and the folder flushed. A kill at any moment leaves either the old
    checkpoint or the new one. A new file gets the permissions of any new file under
    the process umask; a replaced one keeps its mode.

    Args:
        state: anything :func:`torch.save` accepts; tensors should be on the CPU
            or will be saved with their device.
        path: destination file; parent folders are created.

    Returns:
        The destination path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A plain exclusive open (not mkstemp's 0600) gives the file the permissions of any
    # new file under the process umask; a replaced checkpoint keeps its own mode.
    temporary = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    try:
        with open(temporary, "xb") as file:
            torch.save(dict(state), file)
            file.flush()
            os.fsync(file.fileno())
        if path.exists():
            os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (the rename) to disk where the OS allows it (POSIX)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open folders
        return
    try:
        os.fsync(descriptor)
    except OSError:  # some file systems refuse fsync on folders
        pass
    finally:
        os.close(descriptor)


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Uses ``weights_only=True`` (plain containers, numbers, strings and tensors only),
    so loading a file cannot run code.

    Raises:
        AimCLRError: the file does not exist or does not hold a dictionary.
    """
    path = Path(path)
    if not path.is_file():
        raise AimCLRError(f"checkpoint file not found: {path}")
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict):
        raise AimCLRError(f"checkpoint {path} must hold a dict, got {type(state).__name__}")
    return state
