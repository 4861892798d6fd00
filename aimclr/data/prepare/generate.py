"""Write raw NTU RGB+D / PKU-MMD files from arrays, and random folders of them.

For trying the conversion without the real data sets (tests, benchmarks, the
guide): the files follow the published layouts, the motion is a random walk, not
an action.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aimclr.data.prepare.benchmarks import NTU60_TRAINING_SUBJECTS
from aimclr.data.prepare.ntu import NTU_NUM_JOINTS, NtuSampleId
from aimclr.data.prepare.pku import PKU_SPLIT_FILES, PKU_VIEWS, PkuLayout
from aimclr.errors import AimCLRError

__all__ = [
    "format_ntu_skeleton",
    "format_pku_frames",
    "write_ntu_folder",
    "write_pku_folder",
]

_BODY_VALUES = "0 1 0 1 0 0 0.02764709 0.05745083 2"  # all but bodyID, as in NTU files
_JOINT_TAIL = "0.4189314 0.2098675 1002.236 428.9891 -0.2578875 0.02227438 0.9646125 " \
              "-0.0511002 2"  # depth/colour pixels, orientation, tracking state


def format_ntu_skeleton(frames: Sequence[Sequence[np.ndarray]], digits: int = 7) -> str:
    """The text of an NTU ``.skeleton`` file.

    Args:
        frames: per frame, the bodies in file order, each ``(25, 3)`` x, y, z.
        digits: significant digits of the coordinates (NTU files have about 7).

    Returns:
        The file content, lines ending in ``\\n``.

    Raises:
        AimCLRError: a body that is not ``(25, 3)``.

    Example:
        >>> text = format_ntu_skeleton([[np.zeros((25, 3))], []])
        >>> text.splitlines()[:4]
        ['2', '1', '72057594037931101 0 1 0 1 0 0 0.02764709 0.05745083 2', '25']
    """
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for m, body in enumerate(bodies):
            body = np.asarray(body, dtype=np.float64)
            if body.shape != (NTU_NUM_JOINTS, 3):
                raise AimCLRError(f"each body must have layout (V, C) = (25, 3), got shape "
                                  f"{body.shape}")
            lines += [f"{72057594037931101 + m} {_BODY_VALUES}", str(NTU_NUM_JOINTS)]
            lines += [f"{x:.{digits}g} {y:.{digits}g} {z:.{digits}g} {_JOINT_TAIL}"
                      for x, y, z in body]
    return "\n".join(lines) + "\n"


def format_pku_frames(frames: np.ndarray, digits: int = 7) -> str:
    """The text of a PKU-MMD skeleton file: one line of 150 numbers per frame.

    Args:
        frames: ``(T, 2, 25, 3)`` persons x joints x (x, y, z); zeros for an absent
            second person.
        digits: significant digits.

    Returns:
        The file content.

    Raises:
        AimCLRError: ``frames`` is not ``(T, 2, 25, 3)``.
    """
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 4 or frames.shape[1:] != (2, NTU_NUM_JOINTS, 3):
        raise AimCLRError(f"frames must have layout (T, M, V, C) = (T, 2, 25, 3), got shape "
                          f"{frames.shape}")
    return "".join(
        " ".join(f"{value:.{digits}g}" for value in frame) + "\n"
        for frame in frames.reshape(len(frames), -1)
    )


def _walk(rng: np.random.Generator, length: int) -> np.ndarray:
    """A person ``(T, 25, 3)`` drifting from a random standing pose."""
    pose = rng.normal(scale=0.3, size=(NTU_NUM_JOINTS, 3)) + np.array([0.0, 0.0, 3.0])
    steps = rng.normal(scale=0.01, size=(length, NTU_NUM_JOINTS, 3))
    return np.asarray(pose + np.cumsum(steps, axis=0))


def write_ntu_folder(
    folder: str | os.PathLike[str],
    count: int,
    seed: int = 0,
    dataset: str = "ntu60",
    frames: tuple[int, int] = (30, 120),
    second_person: float = 0.3,
) -> list[Path]:
    """Write ``count`` random NTU ``.skeleton`` files with distinct names.

    Ids are drawn so that every benchmark has training and validation samples;
    some files have a second person for part of the frames.

    Args:
        folder: created if needed.
        count: number of files.
        seed: random seed.
        dataset: ``"ntu60"`` (setups 1-17, actions 1-60) or ``"ntu120"`` (1-32, 1-120).
        frames: inclusive range of frame counts.
        second_person: probability that a file shows two persons.

    Returns:
        The files written, sorted.

    Raises:
        AimCLRError: an unknown data set, or more files than distinct names.
    """
    if dataset not in ("ntu60", "ntu120"):
        raise AimCLRError(f"dataset must be 'ntu60' or 'ntu120', got {dataset!r}")
    setups, actions, subjects = (17, 60, 40) if dataset == "ntu60" else (32, 120, 106)
    if count > setups * 3 * subjects * 2 * actions:
        raise AimCLRError(f"count {count} exceeds the distinct {dataset} names")
    rng = np.random.default_rng(seed)
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    names: set[str] = set()
    paths = []
    while len(names) < count:
        sample = NtuSampleId(
            setup=int(rng.integers(1, setups + 1)), camera=int(rng.integers(1, 4)),
            subject=int(rng.choice(sorted(NTU60_TRAINING_SUBJECTS))) if rng.random() < 0.5
            else int(rng.integers(1, subjects + 1)),
            replication=int(rng.integers(1, 3)), action=int(rng.integers(1, actions + 1)),
        )
        if sample.name in names:
            continue
        names.add(sample.name)
        length = int(rng.integers(frames[0], frames[1] + 1))
        people = [_walk(rng, length)]
        if rng.random() < second_person:
            people.append(_walk(rng, length))
        enter, leave = sorted(int(v) for v in rng.integers(0, length + 1, size=2))
        bodies = [[people[0][t]] + ([people[1][t]] if len(people) > 1 and enter <= t < leave
                                    else []) for t in range(length)]
        path = root / sample.name
        path.write_text(format_ntu_skeleton(bodies), encoding="utf-8")
        paths.append(path)
    return sorted(paths)


def write_pku_folder(
    folder: str | os.PathLike[str],
    videos: int,
    part: int = 1,
    seed: int = 0,
    instances: tuple[int, int] = (2, 6),
    instance_frames: tuple[int, int] = (30, 150),
    classes: int = 51,
) -> PkuLayout:
    """Write a random PKU-MMD download: skeleton and label folders, split files.

    Every other recording is a training video in the cross-subject split; the
    left and right views train in the cross-view split.

    Args:
        folder: created if needed; gets ``skeleton/``, ``label/`` and the split files.
        videos: number of videos (each recording has 3 views: a multiple of 3 is
            natural).
        part: 1 or 2 (names ``0002-L`` or ``A01N01-L``).
        seed: random seed.
        instances: inclusive range of action instances per video.
        instance_frames: inclusive range of frames per instance.
        classes: action classes to draw from (51 in PKU-MMD).

    Returns:
        The layout of the folders written.

    Raises:
        AimCLRError: ``part`` not 1 or 2, or too many videos for the part's names.
    """
    if part not in (1, 2):
        raise AimCLRError(f"part must be 1 or 2, got {part!r}")
    recordings = 363 if part == 1 else 26 * 13
    if videos > 3 * recordings:
        raise AimCLRError(f"videos {videos} exceeds the {3 * recordings} PKU-MMD Part {part} "
                          "videos")
    rng = np.random.default_rng(seed)
    root = Path(folder)
    layout = PkuLayout(root / "skeleton", root / "label", root)
    layout.skeletons.mkdir(parents=True, exist_ok=True)
    layout.labels.mkdir(parents=True, exist_ok=True)
    cross_subject: tuple[list[str], list[str]] = ([], [])
    cross_view: tuple[list[str], list[str]] = ([], [])
    for index in range(videos):
        recording, view = divmod(index, 3)
        letter = tuple(PKU_VIEWS)[view]
        if part == 1:
            name = f"{recording + 2:04d}-{letter}"
        else:
            name = f"A{recording // 13 + 1:02d}N{recording % 13 + 1:02d}-{letter}"
        cross_subject[recording % 2].append(name)
        cross_view[letter == "M"].append(name)
        lengths = rng.integers(instance_frames[0], instance_frames[1] + 1,
                               size=int(rng.integers(instances[0], instances[1] + 1)))
        gaps = rng.integers(0, 40, size=len(lengths) + 1)
        total = int(lengths.sum() + gaps.sum())
        persons = np.zeros((total, 2, NTU_NUM_JOINTS, 3))
        persons[:, 0] = _walk(rng, total)
        if rng.random() < 0.4:
            start, stop = sorted(int(v) for v in rng.integers(0, total + 1, size=2))
            persons[start:stop, 1] = _walk(rng, stop - start)
        (layout.skeletons / f"{name}.txt").write_text(format_pku_frames(persons))
        label_lines = []
        start = 1 + int(gaps[0])
        for length, gap in zip(lengths, gaps[1:], strict=True):
            label_lines.append(f"{int(rng.integers(1, classes + 1))},{start},"
                               f"{start + int(length) - 1},{int(rng.integers(1, 3))}")
            start += int(length) + int(gap)
        (layout.labels / f"{name}.txt").write_text("\n".join(label_lines) + "\n")
    for benchmark, (train, val) in (("xsub", cross_subject), ("xview", cross_view)):
        (layout.splits / PKU_SPLIT_FILES[part][benchmark]).write_text(
            f"Training videos: \n{', '.join(train)}\nValidation videos: \n{', '.join(val)}\n"
        )
    return layout
