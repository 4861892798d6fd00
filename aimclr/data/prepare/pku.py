"""PKU-MMD Part I / II: skeleton, label and split files.

PKU-MMD records long videos that hold many actions. Per video and view:

* a skeleton file, one frame per line: 150 numbers, two persons x 25 joints x
  (x, y, z); the second person is all zeros when absent;
* a label file, one action instance per line: ``label,start,end,confidence`` with
  1-based inclusive frame numbers;
* the split files ``cross-subject.txt`` / ``cross-view.txt`` (Part II:
  ``cross_subject_v2.txt`` / ``cross_view_v2.txt``): a header line, the training
  videos separated by commas, a header line, the validation videos.

Videos are named ``0002-L`` ... ``0364-R`` in Part I and ``A01N01-L`` ...
``A26N13-R`` in Part II (``L``, ``M``, ``R``: the left, middle, right camera).
The reference (``tools/pku_part1_skeleton.py``, ``pku_part2_skeleton.py``) cuts every
instance out of its video and names it like an NTU sample,
``F{video}V{view}C{class}L{index}`` (Part II ``A{a}N{n}V{view}C{class}L{index}``,
3-digit fields, views 001/002/003 = L/M/R, index = the instance's 1-based line in
the label file); :meth:`PkuVideo.sample_name` builds the same names.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aimclr.data.prepare.ntu import NTU_NUM_JOINTS
from aimclr.data.prepare.rawfiles import SKELETON_SUFFIX, RawDataError, read_text
from aimclr.errors import AimCLRError

__all__ = [
    "PKU_SPLIT_FILES",
    "PKU_VALUES_PER_FRAME",
    "PKU_VIEWS",
    "PkuInstance",
    "PkuLayout",
    "PkuVideo",
    "cut_instance",
    "parse_pku_video_name",
    "pku_persons",
    "read_pku_frames",
    "read_pku_labels",
    "read_pku_skeleton",
    "read_pku_split",
]

PKU_VALUES_PER_FRAME = 2 * NTU_NUM_JOINTS * 3
"""Numbers per line of a PKU-MMD skeleton file: 2 persons x 25 joints x (x, y, z)."""

PKU_VIEWS = {"L": 1, "M": 2, "R": 3}
"""View letter of a video name and its number in the sample names."""

PKU_SPLIT_FILES: dict[int, dict[str, str]] = {
    1: {"xsub": "cross-subject.txt", "xview": "cross-view.txt"},
    2: {"xsub": "cross_subject_v2.txt", "xview": "cross_view_v2.txt"},
}
"""Official split file of each benchmark, per part."""

_SKELETON_DIRS = ("PKU_Skeleton_Renew", "skeleton", "Skeleton", "skeletons")
_LABEL_DIRS = ("Train_Label_PKU_final", "label", "Label", "labels")
_SPLIT_DIRS = (".", "Split", "split")

_VIDEO_NAMES = {
    1: (re.compile(r"0(\d{3})-([LMR])"), "0002-L (0 + 3-digit video + -L, -M or -R)"),
    2: (re.compile(r"A(\d{2})N(\d{2})-([LMR])"), "A01N01-L (A + 2 digits + N + 2 digits + "
                                                  "-L, -M or -R)"),
}


@dataclass(frozen=True)
class PkuVideo:
    """One PKU-MMD video (one view of one recording).

    Attributes:
        part: 1 or 2.
        name: the name used by the label, skeleton and split files, e.g.
            ``"0002-L"`` or ``"A01N01-L"``.
        numbers: the numeric ids: ``(video,)`` in Part I, ``(a, n)`` in Part II.
        view: ``"L"``, ``"M"`` or ``"R"``.
    """

    part: int
    name: str
    numbers: tuple[int, ...]
    view: str

    @property
    def official(self) -> bool:
        """Whether the reference scripts read this video: Part I videos 2-364,
        Part II ``A`` 1-26 and ``N`` 1-13 (the published sets)."""
        if self.part == 1:
            return 2 <= self.numbers[0] <= 364
        return 1 <= self.numbers[0] <= 26 and 1 <= self.numbers[1] <= 13

    def sample_name(self, action: int, index: int) -> str:
        """The reference name of an instance, e.g. ``"F002V001C013L004.skeleton"``.

        Args:
            action: the 1-based class of the instance.
            index: the 1-based position of the instance in the label file.
        """
        if self.part == 1:
            prefix = f"F{self.numbers[0]:03d}"
        else:
            prefix = f"A{self.numbers[0]:03d}N{self.numbers[1]:03d}"
        return f"{prefix}V{PKU_VIEWS[self.view]:03d}C{action:03d}L{index:03d}{SKELETON_SUFFIX}"


def parse_pku_video_name(name: str, part: int) -> PkuVideo:
    """Parse a label or skeleton file name (``.txt`` optional).

    Args:
        name: e.g. ``"0002-L.txt"`` (Part I) or ``"A01N01-L.txt"`` (Part II).
        part: 1 or 2.

    Returns:
        The video.

    Raises:
        RawDataError: the name does not follow the part's pattern.
        AimCLRError: ``part`` is not 1 or 2.

    Example:
        >>> parse_pku_video_name("0002-L.txt", part=1).sample_name(13, 4)
        'F002V001C013L004.skeleton'
    """
    if part not in _VIDEO_NAMES:
        raise AimCLRError(f"part must be 1 or 2 (PKU-MMD Part I or II), got {part!r}")
    pattern, expected = _VIDEO_NAMES[part]
    stem = name[:-4] if name.endswith(".txt") else name
    match = pattern.fullmatch(stem)
    if match is None:
        raise RawDataError(name, None, f"unparsable file name for PKU-MMD Part {part}: "
                                       f"expected {expected}.txt")
    *numbers, view = match.groups()
    return PkuVideo(part, stem, tuple(int(number) for number in numbers), view)


@dataclass(frozen=True)
class PkuInstance:
    """One line of a PKU-MMD label file.

    Attributes:
        action: 1-based class.
        start: first frame, 1-based.
        end: last frame, 1-based, inclusive.
        confidence: the fourth column (1 or 2 in PKU-MMD), ``None`` if absent.
        index: 1-based position among the instances of the file (the ``L`` field
            of the sample name).
        line: 1-based line in the label file.
    """

    action: int
    start: int
    end: int
    confidence: float | None
    index: int
    line: int

    @property
    def label(self) -> int:
        """The 0-based class index, ``action - 1``."""
        return self.action - 1

    @property
    def length(self) -> int:
        """Frames in the instance, ``end - start + 1``."""
        return self.end - self.start + 1


def read_pku_labels(path: str | os.PathLike[str]) -> list[PkuInstance]:
    """Read a label file: ``label,start,end[,confidence]`` per line.

    Blank lines are skipped. Class and frame numbers must be whole numbers
    (``12`` or ``12.0``) with ``1 <= start <= end``.

    Args:
        path: e.g. ``Train_Label_PKU_final/0002-L.txt``.

    Returns:
        The instances in file order.

    Raises:
        RawDataError: a line without 3 or 4 comma-separated numbers, a class
            below 1, or frames that are not whole numbers with ``1 <= start <= end``.

    Example:
        >>> from pathlib import Path
        >>> path = Path(getfixture("tmp_path")) / "0002-L.txt"
        >>> _ = path.write_text("13,40,90,1\\n7,120,133,2\\n")
        >>> [(i.label, i.start, i.end, i.index) for i in read_pku_labels(path)]
        [(12, 40, 90, 1), (6, 120, 133, 2)]
    """
    instances: list[PkuInstance] = []
    for number, text in enumerate(read_text(path), start=1):
        if not text.strip():
            continue
        fields = [field.strip() for field in text.split(",")]
        expected = "label,start,end,confidence (3 or 4 comma-separated numbers)"
        if len(fields) not in (3, 4):
            raise RawDataError(path, number, f"expected {expected}, got {text.strip()!r}")
        try:
            values = [float(field) for field in fields]
        except ValueError:
            raise RawDataError(path, number, f"non-numeric value in {text.strip()!r}: "
                                             f"expected {expected}") from None
        action, start, end = values[:3]
        if not all(value.is_integer() for value in (action, start, end)):
            raise RawDataError(path, number, f"class, start and end must be whole numbers, "
                                             f"got {text.strip()!r}")
        if action < 1 or not 1 <= start <= end:
            raise RawDataError(path, number, f"expected a class >= 1 and frames 1 <= start "
                                             f"<= end (1-based, inclusive), got "
                                             f"{text.strip()!r}")
        instances.append(PkuInstance(
            int(action), int(start), int(end), values[3] if len(values) == 4 else None,
            len(instances) + 1, number,
        ))
    return instances


def read_pku_split(path: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """Read an official split file.

    Line 1 and 3 are headers, line 2 lists the training videos and line 4 the
    validation videos, separated by commas (spaces and empty entries ignored).

    Args:
        path: e.g. ``cross-subject.txt``.

    Returns:
        ``(training_videos, validation_videos)``, e.g. ``["0002-L", ...]``.

    Raises:
        RawDataError: the file is missing or has fewer than 4 lines.
    """
    if not Path(path).is_file():
        raise RawDataError(path, None, "split file not found")
    lines = read_text(path)
    if len(lines) < 4:
        raise RawDataError(
            path, len(lines) + 1,
            "expected 4 lines: a header, the training videos (comma-separated), a header, "
            f"the validation videos; the file has {len(lines)}",
        )
    return _video_list(lines[1]), _video_list(lines[3])


def _video_list(line: str) -> list[str]:
    return [name for name in (field.strip() for field in line.split(",")) if name]


def read_pku_frames(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a skeleton file as the reference does (``numpy.loadtxt``).

    Blank lines and lines starting with ``#`` are not frames.

    Args:
        path: e.g. ``PKU_Skeleton_Renew/0002-L.txt``.

    Returns:
        ``float64`` array ``(T, 150)``: per frame person 1 then person 2, each 25
        joints x (x, y, z).

    Raises:
        RawDataError: a non-numeric value or a line without 150 numbers.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            frames = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except (ValueError, UnicodeDecodeError):
        frames = None
    except OSError as err:
        raise RawDataError(path, None, f"cannot read the file: {err.strerror or err}") from err
    if frames is not None and frames.size == 0:
        return np.zeros((0, PKU_VALUES_PER_FRAME))
    if frames is None or frames.shape[1] != PKU_VALUES_PER_FRAME:
        _raise_first_bad_frame_line(path)
        raise RawDataError(path, None, "cannot read the skeleton frames")
    return frames


def _raise_first_bad_frame_line(path: str | os.PathLike[str]) -> None:
    for number, text in enumerate(read_text(path), start=1):
        tokens = text.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        for token in tokens:
            try:
                float(token)
            except ValueError:
                raise RawDataError(path, number, f"non-numeric value {token[:40]!r}") from None
        if len(tokens) != PKU_VALUES_PER_FRAME:
            raise RawDataError(
                path, number,
                f"expected {PKU_VALUES_PER_FRAME} numbers per frame (2 persons x "
                f"{NTU_NUM_JOINTS} joints x x, y, z), got {len(tokens)}",
            )


def pku_persons(frames: np.ndarray) -> np.ndarray:
    """Split ``(T, 150)`` frames into persons ``(3, T, 25, 2)`` as the reference does.

    The reference rewrites each frame as an NTU-style ``.skeleton`` body list and
    writes the second person only where its 75 values do not sum to 0
    (``numpy.sum``); such frames get zeros in slot 1 here. The first person is
    always written. Values keep their float64 parse and are rounded once to float32.

    Args:
        frames: ``(T, 150)`` float64 as returned by :func:`read_pku_frames`.

    Returns:
        ``float32`` array ``(3, T, 25, 2)``.

    Raises:
        AimCLRError: ``frames`` is not ``(T, 150)``.
    """
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 2 or frames.shape[1] != PKU_VALUES_PER_FRAME:
        raise AimCLRError(f"frames must have layout (T, {PKU_VALUES_PER_FRAME}), got shape "
                          f"{frames.shape}")
    second = frames[:, PKU_VALUES_PER_FRAME // 2 :]
    written = np.any(second != 0, axis=1)
    # A person whose values cancel to a sum of 0 is dropped too: same per-frame np.sum.
    for t in np.flatnonzero(written):
        written[t] = np.sum(frames[t, PKU_VALUES_PER_FRAME // 2 :]) != 0
    persons = frames.reshape(len(frames), 2, NTU_NUM_JOINTS, 3).copy()
    persons[~written, 1] = 0.0
    out: np.ndarray = persons.transpose(3, 0, 2, 1).astype(np.float32)  # -> (C, T, V, M)
    return out


def cut_instance(
    frames: np.ndarray, instance: PkuInstance, source: str = "<frames>"
) -> np.ndarray:
    """Cut one action instance out of a video: frames ``start .. end`` (1-based, inclusive).

    Args:
        frames: ``(T, 150)`` float64 frames of the video.
        instance: the instance.
        source: the label file, named in the error.

    Returns:
        ``float32`` array ``(3, end - start + 1, 25, 2)`` (see :func:`pku_persons`).

    Raises:
        RawDataError: the instance ends after the last frame of the video.
    """
    if instance.end > len(frames):
        raise RawDataError(
            source, instance.line,
            f"the action instance ends at frame {instance.end} but the skeleton file has "
            f"{len(frames)} frames",
        )
    return pku_persons(frames[instance.start - 1 : instance.end])


def read_pku_skeleton(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a whole skeleton file as persons ``(3, T, 25, 2)`` ``float32``.

    Args:
        path: e.g. ``PKU_Skeleton_Renew/0002-L.txt``.

    Returns:
        The video, persons split as in :func:`pku_persons`.

    Raises:
        RawDataError: see :func:`read_pku_frames`.
    """
    return pku_persons(read_pku_frames(path))


@dataclass(frozen=True)
class PkuLayout:
    """Where the three kinds of PKU-MMD files are.

    Attributes:
        skeletons: folder of skeleton files (``0002-L.txt``, ...).
        labels: folder of label files with the same names.
        splits: folder of the split files (:data:`PKU_SPLIT_FILES`).
    """

    skeletons: Path
    labels: Path
    splits: Path

    @classmethod
    def discover(cls, root: str | os.PathLike[str], part: int) -> PkuLayout:
        """Find the folders under a download folder.

        Looks for the skeleton folder as ``PKU_Skeleton_Renew/``, ``skeleton/``,
        ``Skeleton/`` or ``skeletons/``; the label folder as
        ``Train_Label_PKU_final/``, ``label/``, ``Label/`` or ``labels/``; the split
        files in ``root``, ``root/Split`` or ``root/split``.

        Args:
            root: the folder holding the PKU-MMD download.
            part: 1 or 2 (selects the split file names).

        Returns:
            The layout.

        Raises:
            AimCLRError: ``root`` is not a folder, or it has no skeleton or label
                folder.
        """
        root = Path(root)
        if not root.is_dir():
            raise AimCLRError(f"PKU-MMD folder {str(root)!r} not found")

        def first_dir(names: tuple[str, ...], what: str) -> Path:
            for name in names:
                if (root / name).is_dir():
                    return root / name
            raise AimCLRError(
                f"no {what} folder in {str(root)!r}: expected one of "
                f"{', '.join(name + '/' for name in names)}"
            )

        split_names = PKU_SPLIT_FILES[part].values() if part in PKU_SPLIT_FILES else ()
        splits = next(
            (root / name for name in _SPLIT_DIRS
             if any((root / name / split).is_file() for split in split_names)),
            root,
        )
        return cls(first_dir(_SKELETON_DIRS, "skeleton"), first_dir(_LABEL_DIRS, "label"), splits)
