"""NTU RGB+D 60 / 120 ``.skeleton`` files: file names and contents.

One file per sample, named ``SsssCcccPpppRrrrAaaa.skeleton`` (setup, camera,
performer, replication, action; 3-digit, 1-based). The text holds the frame count,
then per frame the body count and per body:

* one line of 10 values (bodyID, clippedEdges, handLeftConfidence, handLeftState,
  handRightConfidence, handRightState, isRestricted, leanX, leanY, trackingState);
* the joint count (25);
* one line per joint of 12 values (x, y, z, depthX, depthY, colorX, colorY,
  orientationW, orientationX, orientationY, orientationZ, trackingState).

Only x, y, z (camera space, metres) are read; the other values are not checked.
Bodies fill the person slots ``M`` by their position in each frame's list, as in
the reference ``ntu_gendata.py``: when the first body of a frame leaves, the next
one takes slot 0 from that frame on (``bodyID`` is not followed).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aimclr.data.prepare.rawfiles import SKELETON_SUFFIX, RawDataError, read_text
from aimclr.errors import AimCLRError

__all__ = [
    "NTU_NUM_JOINTS",
    "NtuSampleId",
    "NtuSkeleton",
    "parse_ntu_name",
    "parse_ntu_skeleton",
    "read_ntu_skeleton",
]

NTU_NUM_JOINTS = 25
"""Joints per body in the Kinect v2 skeletons of NTU RGB+D (and PKU-MMD)."""

_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
_NAME_FORMAT = "SsssCcccPpppRrrrAaaa.skeleton with 3-digit ids >= 1, e.g. S001C002P003R002A013"


@dataclass(frozen=True)
class NtuSampleId:
    """The ids in an NTU RGB+D file name (all 1-based).

    Attributes:
        setup: ``S``, the recording setup (1-17 in NTU-60, 1-32 in NTU-120).
        camera: ``C``, the camera (1-3).
        subject: ``P``, the performer (1-40 in NTU-60, 1-106 in NTU-120).
        replication: ``R``, the repetition (1-2).
        action: ``A``, the action class (1-60 / 1-120).
    """

    setup: int
    camera: int
    subject: int
    replication: int
    action: int

    @property
    def label(self) -> int:
        """The 0-based class index, ``action - 1``."""
        return self.action - 1

    @property
    def name(self) -> str:
        """The file name, e.g. ``"S001C002P003R002A013.skeleton"``."""
        return (
            f"S{self.setup:03d}C{self.camera:03d}P{self.subject:03d}"
            f"R{self.replication:03d}A{self.action:03d}{SKELETON_SUFFIX}"
        )


def parse_ntu_name(name: str) -> NtuSampleId:
    """Parse ``SsssCcccPpppRrrrAaaa`` (with or without ``.skeleton``).

    Args:
        name: a file name (no folder).

    Returns:
        The ids.

    Raises:
        RawDataError: the name does not follow the pattern, or an id is 0.

    Example:
        >>> parse_ntu_name("S001C002P003R002A013.skeleton").label
        12
    """
    stem = name[: -len(SKELETON_SUFFIX)] if name.endswith(SKELETON_SUFFIX) else name
    match = _NAME.fullmatch(stem)
    if match is None:
        raise RawDataError(name, None, f"unparsable file name: expected {_NAME_FORMAT}")
    ids = [int(group) for group in match.groups()]
    if min(ids) < 1:
        raise RawDataError(name, None, f"unparsable file name: expected {_NAME_FORMAT}")
    return NtuSampleId(*ids)


@dataclass(frozen=True, eq=False)
class NtuSkeleton:
    """One ``.skeleton`` file, parsed.

    Attributes:
        data: ``float32`` array ``(3, T, 25, M)``: x, y, z of the first ``M`` bodies
            of every frame (in file order); absent bodies are zeros. ``T`` is the
            frame count of the file (nothing is cut).
        bodies: ``int64`` array ``(T,)``: the body count written for each frame
            (bodies beyond ``M`` are counted but not kept).
        sample: the ids from the file name.
    """

    data: np.ndarray
    bodies: np.ndarray
    sample: NtuSampleId


class _Lines:
    """A cursor over the lines of one file, with errors that name the line."""

    def __init__(self, lines: list[str], source: str) -> None:
        self.lines = lines
        self.source = source
        self.pos = 0

    def error(self, line_index: int, reason: str) -> RawDataError:
        return RawDataError(self.source, line_index + 1, reason)

    def end_error(self, what: str) -> RawDataError:
        return RawDataError(
            self.source, len(self.lines) + 1,
            f"the file ends where {what} should be: truncated file, or a frame or body "
            "count that announces more than the file holds",
        )

    def integer(self, what: str, hint: str = "") -> int:
        if self.pos >= len(self.lines):
            raise self.end_error(what)
        text = self.lines[self.pos]
        try:
            value = int(text)
        except ValueError:
            raise self.error(self.pos, f"expected {what} (one integer), got "
                                       f"{_shorten(text)!r}{hint}") from None
        if value < 0:
            raise self.error(self.pos, f"expected {what} >= 0, got {value}")
        self.pos += 1
        return value

    def skip(self, count: int, what: str) -> int:
        """Step over ``count`` lines; returns the index of the first."""
        if self.pos + count > len(self.lines):
            raise self.end_error(what)
        first = self.pos
        self.pos += count
        return first


def _shorten(text: str, limit: int = 60) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_ntu_skeleton(
    lines: list[str], max_bodies: int = 2, source: str = "<lines>"
) -> tuple[np.ndarray, np.ndarray]:
    """Parse the lines of a ``.skeleton`` file.

    Values are parsed as float64 and then rounded to float32, which is what the
    reference gets by filling a float64 array and storing it in a float32 file.

    Args:
        lines: the file's lines without line ends.
        max_bodies: person slots ``M`` to fill per frame.
        source: file name used in error messages.

    Returns:
        ``(data, bodies)``: ``float32`` ``(3, T, 25, max_bodies)`` and the ``int64``
        body count per frame ``(T,)`` (see :class:`NtuSkeleton`).

    Raises:
        RawDataError: a count that is not a non-negative integer, a joint count
            other than 25, a joint line without three numbers x, y, z, a file
            that ends early, or text after the last frame (a frame or body count
            that disagrees with the lines).
        AimCLRError: ``max_bodies < 1``.
    """
    if isinstance(max_bodies, bool) or not isinstance(max_bodies, int) or max_bodies < 1:
        raise AimCLRError(f"max_bodies must be an integer >= 1, got {max_bodies!r}")
    cursor = _Lines(lines, source)
    num_frames = cursor.integer("the frame count")
    bodies = np.zeros(num_frames, dtype=np.int64)
    kept: list[tuple[int, int, int]] = []  # (frame, slot, index of the first joint line)
    for t in range(num_frames):
        count_line = cursor.pos
        bodies[t] = count = cursor.integer(f"the body count of frame {t + 1}")
        for m in range(count):
            cursor.skip(1, f"the values of body {m + 1} of frame {t + 1}")
            num_joints = cursor.integer(
                f"the joint count of body {m + 1} of frame {t + 1}",
                hint=f" (does the body count {count} of frame {t + 1} on line "
                     f"{count_line + 1} match the bodies that follow?)",
            )
            if num_joints != NTU_NUM_JOINTS:
                raise cursor.error(
                    cursor.pos - 1,
                    f"expected {NTU_NUM_JOINTS} joints (Kinect v2) for body {m + 1} of "
                    f"frame {t + 1}, got {num_joints}",
                )
            first = cursor.skip(NTU_NUM_JOINTS, f"the joints of body {m + 1} of frame {t + 1}")
            if m < max_bodies:
                kept.append((t, m, first))
    for index in range(cursor.pos, len(lines)):
        if lines[index].strip():
            raise cursor.error(
                index,
                f"unexpected text after the {num_frames} frames announced on line 1: "
                f"{_shorten(lines[index])!r} (a frame or body count that disagrees with "
                "the lines?)",
            )
    data = np.zeros((3, num_frames, NTU_NUM_JOINTS, max_bodies), dtype=np.float32)
    if kept:
        xyz = _joint_coordinates(lines, kept, source)  # (bodies, 25, 3)
        frames = np.array([t for t, _, _ in kept])
        slots = np.array([m for _, m, _ in kept])
        data[:, frames, :, slots] = xyz.transpose(0, 2, 1)
    return data, bodies


def _joint_coordinates(
    lines: list[str], kept: list[tuple[int, int, int]], source: str
) -> np.ndarray:
    """x, y, z of the joint lines of the kept bodies, ``float32`` ``(bodies, 25, 3)``."""
    joint_lines = [
        line for _, _, first in kept for line in lines[first : first + NTU_NUM_JOINTS]
    ]
    try:
        xyz = np.loadtxt(joint_lines, dtype=np.float64, usecols=(0, 1, 2), comments=None,
                         ndmin=2)
    except ValueError:
        xyz = None
    if xyz is None or xyz.shape != (len(joint_lines), 3):
        # numpy skips blank lines and names rows, not lines: find the line ourselves.
        _raise_first_bad_joint_line(lines, kept, source)
        raise RawDataError(source, None, "cannot read the joint coordinates")
    return xyz.astype(np.float32).reshape(len(kept), NTU_NUM_JOINTS, 3)


def _raise_first_bad_joint_line(
    lines: list[str], kept: list[tuple[int, int, int]], source: str
) -> None:
    for t, m, first in kept:
        for j in range(NTU_NUM_JOINTS):
            text = lines[first + j]
            where = f"joint {j + 1} of body {m + 1} of frame {t + 1}"
            tokens = text.split()
            if len(tokens) < 3:
                raise RawDataError(
                    source, first + j + 1,
                    f"expected at least 3 numbers (x y z ...) for {where}, got "
                    f"{_shorten(text)!r}",
                )
            for token in tokens[:3]:
                try:
                    float(token)
                except ValueError:
                    raise RawDataError(
                        source, first + j + 1,
                        f"non-numeric value {_shorten(token)!r} in x, y, z of {where}",
                    ) from None


def read_ntu_skeleton(path: str | os.PathLike[str], max_bodies: int = 2) -> NtuSkeleton:
    """Read one NTU RGB+D ``.skeleton`` file.

    Args:
        path: the file; its name must follow ``SsssCcccPpppRrrrAaaa.skeleton``.
        max_bodies: person slots ``M`` (the reference keeps 2).

    Returns:
        The coordinates ``(3, T, 25, M)`` ``float32``, the body count per frame
        and the ids from the name.

    Raises:
        RawDataError: an unparsable name, an unreadable file, or content that does
            not follow the format (see :func:`parse_ntu_skeleton`).
        AimCLRError: ``max_bodies < 1``.

    Example:
        >>> from pathlib import Path
        >>> joint = "0.1 0.2 3.0 0 0 0 0 0 0 0 0 2"
        >>> body = ["72057594037931101 0 1 1 1 1 0 0.02 0.05 2", "25", *[joint] * 25]
        >>> path = Path(getfixture("tmp_path")) / "S001C001P001R001A001.skeleton"
        >>> _ = path.write_text("\\n".join(["2", "1", *body, "0"]) + "\\n")
        >>> skeleton = read_ntu_skeleton(path)
        >>> skeleton.data.shape, skeleton.bodies.tolist(), skeleton.sample.label
        ((3, 2, 25, 2), [1, 0], 0)
    """
    path = Path(path)
    sample = parse_ntu_name(path.name)
    data, bodies = parse_ntu_skeleton(read_text(path), max_bodies, str(path))
    return NtuSkeleton(data, bodies, sample)
