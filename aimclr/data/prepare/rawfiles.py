"""What the raw-file readers share: their error type, text reading, the ignore list."""

from __future__ import annotations

import os
from pathlib import Path

from aimclr.errors import AimCLRError

__all__ = ["SKELETON_SUFFIX", "RawDataError", "read_ignore_list"]

SKELETON_SUFFIX = ".skeleton"
"""Suffix of NTU RGB+D sample files, kept in the sample names of the label pickles."""


class RawDataError(AimCLRError):
    """A raw data file that cannot be read as its format says.

    The message names the file, the line (1-based) where known, and what was
    expected there. ``python -m aimclr.data.prepare --skip-bad`` skips the file
    (or the action instance) and lists it in the summary instead of stopping.

    Args:
        path: the offending file.
        line: 1-based line number, or ``None`` when the problem is not on one line
            (a file name, a missing file).
        reason: what was expected and what was found.

    Attributes:
        path: the offending file, as given.
        line: the 1-based line number or ``None``.
        reason: the message without the location.
    """

    def __init__(self, path: str | os.PathLike[str], line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self) -> tuple[type[RawDataError], tuple[str, int | None, str]]:
        # Worker processes send these back to the parent: rebuild from the fields.
        return type(self), (self.path, self.line, self.reason)


def read_text(path: str | os.PathLike[str]) -> list[str]:
    """The lines of a text file without line ends (``\\n``, ``\\r\\n`` or ``\\r``).

    A final line end does not add an empty last line.

    Raises:
        RawDataError: the file cannot be opened or is not UTF-8 text.
    """
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except UnicodeDecodeError as err:
        raise RawDataError(path, None, f"not a UTF-8 text file ({err.reason} at byte "
                                       f"{err.start})") from err
    except OSError as err:
        raise RawDataError(path, None, f"cannot read the file: {err.strerror}") from err
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def read_ignore_list(path: str | os.PathLike[str]) -> frozenset[str]:
    """Sample names to leave out, one per line (the datasets' "missing skeletons" lists).

    Each line is stripped; blank lines are ignored; ``.skeleton`` is appended where
    the line does not already end with it (the reference script appends it to every
    line, so its lines that already carry the suffix match nothing).

    Args:
        path: the text file, e.g. ``NTU_RGBD_samples_with_missing_skeletons.txt``.

    Returns:
        File names such as ``"S001C002P005R002A008.skeleton"``.

    Raises:
        RawDataError: the file is missing or not text.
    """
    if not Path(path).is_file():
        raise RawDataError(path, None, "ignore list not found")
    names = (line.strip() for line in read_text(path))
    return frozenset(
        name if name.endswith(SKELETON_SUFFIX) else name + SKELETON_SUFFIX
        for name in names
        if name
    )
