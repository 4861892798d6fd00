"""Raw NTU RGB+D / PKU-MMD files to the reference training arrays, in one pass.

:func:`prepare` reproduces the two reference steps per benchmark folder
``OUT/<benchmark>/`` (spec §1.2):

1. ``tools/ntu_gendata.py`` (PKU: ``pku_part*_skeleton.py`` + ``pku_part*_gendata.py``):
   ``{train,val}_data.npy`` ``(N, 3, 300, 25, 2)`` float32 and ``{train,val}_label.pkl``
   holding ``(sample_names, labels)``: a list of file names with ``.skeleton`` and a
   list of ``int`` labels ``action - 1``;
2. ``feeder/preprocess_ntu.py`` / ``preprocess_pku.py``: ``{train,val}_position.npy``
   ``(N, 3, frames, 25, 2)`` (centred, resized, yaw-aligned by
   :func:`aimclr.data.preprocess.preprocess_sample` in the reference's float32
   arithmetic, bit for bit), ``{train,val}_motion.npy``
   (frame differences of the 300-frame data, resized, not rotated) and
   ``{train,val}_label.npy`` ``(N, 1)`` int64 (labels minus the part's smallest).

Each raw file is parsed once, in worker processes, and feeds every benchmark.
Samples are in sorted name order. Where this differs from the reference scripts:

* NTU files longer than 300 frames are cut to the first 300 (the reference
  crashes); PKU instances longer than 300 frames are centre-cropped, as the
  reference does.
* Files with 0 frames, or with no body in any frame, are skipped and listed in the
  summary (the reference keeps them as all-zero samples, and its step 2 then
  fails on them).
* PKU samples are sorted by name (the reference keeps the file system's
  ``os.listdir`` order); compare with its output after sorting by name.
* An ignore-list line may end in ``.skeleton`` (the reference matches nothing then).
* A label file with a single instance works (the reference's ``numpy.loadtxt``
  returns one row as 1-D and its indexing fails).
* Malformed files stop the run with a :class:`RawDataError` naming the file and
  line, or are skipped with ``skip_bad=True`` (the reference crashes or, for a wrong
  joint count or text after the last frame, reads what it can).
* Step 2's resampling computes in float64 where OpenCV computes in float32: the
  ``frames`` arrays agree with the reference to float32 rounding, not bit for bit.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from aimclr.data.prepare.benchmarks import BENCHMARKS, ntu_is_training
from aimclr.data.prepare.ntu import NTU_NUM_JOINTS, parse_ntu_name, parse_ntu_skeleton
from aimclr.data.prepare.pku import (
    PKU_SPLIT_FILES,
    PkuInstance,
    PkuLayout,
    cut_instance,
    parse_pku_video_name,
    read_pku_frames,
    read_pku_labels,
    read_pku_split,
)
from aimclr.data.prepare.progress import ProgressBar
from aimclr.data.prepare.rawfiles import (
    SKELETON_SUFFIX,
    RawDataError,
    read_ignore_list,
    read_text,
)
from aimclr.data.prepare.writer import NpyWriter, commit, partial_path, write_pickle
from aimclr.data.preprocess import preprocess_sample, resize_sequence, valid_length
from aimclr.errors import AimCLRError

__all__ = [
    "DATASETS",
    "FULL_FRAMES",
    "SUMMARY_FILE",
    "PrepareSummary",
    "output_files",
    "prepare",
    "reference_arrays",
]

DATASETS = tuple(BENCHMARKS)
"""The data sets :func:`prepare` knows: ``ntu60``, ``ntu120``, ``pku1``, ``pku2``."""

FULL_FRAMES = 300
"""Frames of the step-1 arrays ``*_data.npy``."""

SUMMARY_FILE = "prepare_summary.json"
"""Written to ``OUT`` last: the summary of a run that finished."""

_NUM_PERSONS = 2
_NTU60_LIMITS = {"setup": 17, "action": 60}
_PARTS = ("train", "val")


@dataclass
class PrepareSummary:
    """What :func:`prepare` did.

    Attributes:
        dataset: ``ntu60``, ``ntu120``, ``pku1`` or ``pku2``.
        out: the output folder.
        samples: per benchmark, samples written per part, e.g.
            ``{"xsub": {"train": 40091, "val": 16487}}``.
        skipped: ``(file or sample, reason)`` for every file, instance or name left
            out (empty files always; malformed ones with ``skip_bad``).
        ignored: samples left out because the ignore list names them.
        notes: other facts worth knowing (videos in neither split list, ...).
        files: raw files read.
        bytes: their total size.
        workers: worker processes used (1: in the calling process).
        seconds: wall time of the run.
    """

    dataset: str
    out: Path
    samples: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    ignored: int = 0
    notes: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    workers: int = 1
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (``out`` as a string)."""
        return {
            "dataset": self.dataset, "out": str(self.out), "samples": self.samples,
            "skipped": [list(entry) for entry in self.skipped], "ignored": self.ignored,
            "notes": self.notes, "files": self.files, "bytes": self.bytes,
            "workers": self.workers, "seconds": round(self.seconds, 3),
        }

    def format(self) -> str:
        """The summary as text: samples per split, skipped files with reasons, time."""
        rate = self.files / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"{self.dataset}: {self.files} raw files ({self.bytes / 1e6:.1f} MB) in "
            f"{self.seconds:.1f} s ({rate:.0f} files/s, "
            f"{self.bytes / 1e6 / max(self.seconds, 1e-9):.1f} MB/s, "
            f"{self.workers} worker{'s' if self.workers > 1 else ''})",
        ]
        width = max((len(name) for name in self.samples), default=0)
        for benchmark, parts in self.samples.items():
            lines.append(f"  {benchmark:<{width}}  train {parts['train']:>6}  val "
                         f"{parts['val']:>6}  -> {self.out / benchmark}")
        if self.ignored:
            lines.append(f"ignored (ignore list): {self.ignored} samples")
        lines.append(f"skipped: {len(self.skipped)}")
        lines += [f"  {name}: {reason}" for name, reason in self.skipped]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


# ------------------------------------------------------------------------- one sample
def reference_arrays(
    x: np.ndarray, frames: int = 50, crop: str = "start"
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The reference arrays of one sample: 300 frames, then the short position and motion.

    Args:
        x: ``(3, T, 25, 2)`` float32 coordinates as read from the raw file.
        frames: length of the short arrays; ``0`` skips them.
        crop: for ``T > 300``: ``"start"`` keeps the first 300 frames (NTU),
            ``"center"`` the middle 300 starting at ``(T - 300) // 2`` (PKU, as the
            reference).

    Returns:
        ``(full, position, motion)``: ``full`` ``(3, 300, 25, 2)`` zero-padded;
        ``position`` and ``motion`` ``(3, frames, 25, 2)`` or ``None`` when
        ``frames == 0``. All ``float32``.

    Raises:
        AimCLRError: ``x`` is not ``(3, T, 25, 2)``, ``frames < 0`` or an unknown crop.
    """
    if x.ndim != 4 or x.shape[0] != 3 or x.shape[2:] != (NTU_NUM_JOINTS, _NUM_PERSONS):
        raise AimCLRError(f"x must have layout (C, T, V, M) = (3, T, 25, 2), got shape "
                          f"{x.shape}")
    if crop not in ("start", "center"):
        raise AimCLRError(f"crop must be 'start' or 'center', got {crop!r}")
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 0:
        raise AimCLRError(f"frames must be an integer >= 0, got {frames!r}")
    length = x.shape[1]
    first = (length - FULL_FRAMES) // 2 if crop == "center" and length > FULL_FRAMES else 0
    kept = x[:, first : first + FULL_FRAMES]
    full = np.zeros((3, FULL_FRAMES, NTU_NUM_JOINTS, _NUM_PERSONS), dtype=np.float32)
    full[:, : kept.shape[1]] = kept
    if frames == 0:
        return full, None, None
    valid = valid_length(full)
    position = preprocess_sample(full, num_frames=frames, length=valid, arithmetic="reference")
    # Motion: float32 differences of the padded 300 frames (the frame after the last
    # valid one jumps to zero), resized over the same valid frames, never rotated.
    motion = np.zeros_like(full)
    motion[:, :-1] = full[:, 1:] - full[:, :-1]
    if valid:
        motion = resize_sequence(motion, frames, length=valid, axis=1, arithmetic="reference")
    else:
        motion = np.zeros_like(position)
    return full, position, motion


# ------------------------------------------------------------------------- planning
class _Planned(NamedTuple):
    """One output sample: its name, label and part (training?) per benchmark."""

    name: str
    label: int
    training: tuple[bool, ...]


class _Job(NamedTuple):
    """One raw file to parse and the samples it yields (PKU: one per instance)."""

    path: str
    source: str
    samples: tuple[_Planned, ...]
    instances: tuple[PkuInstance, ...]


class _Plan(NamedTuple):
    jobs: list[_Job]
    benchmarks: tuple[str, ...]
    skipped: list[tuple[str, str]]
    ignored: int
    notes: list[str]
    files: int
    bytes: int


class _Outcome(NamedTuple):
    """What a worker made of one planned sample."""

    sample: _Planned
    arrays: tuple[np.ndarray, np.ndarray | None, np.ndarray | None] | None
    skipped: str | None
    error: RawDataError | None


def _plan_ntu(
    dataset: str, folders: Sequence[Path], ignore: frozenset[str],
    benchmarks: tuple[str, ...], skip_bad: bool,
) -> _Plan:
    paths: dict[str, Path] = {}
    notes: list[str] = []
    for folder in folders:
        if not folder.is_dir():
            raise AimCLRError(f"raw folder {str(folder)!r} not found")
        subfolders = 0
        for entry in os.scandir(folder):
            if entry.is_dir():
                subfolders += 1
                continue
            if entry.name in paths:
                raise AimCLRError(f"{entry.name!r} is in two raw folders: "
                                  f"{str(paths[entry.name].parent)!r} and {str(folder)!r}")
            paths[entry.name] = Path(entry.path)
        if subfolders:
            notes.append(f"{subfolders} subfolders of {folder} were not searched")
    if not paths:
        raise AimCLRError(
            f"no files in {', '.join(repr(str(f)) for f in folders)}: expected NTU RGB+D "
            "files named SsssCcccPpppRrrrAaaa.skeleton"
        )
    jobs: list[_Job] = []
    skipped: list[tuple[str, str]] = []
    ignored = 0
    size = 0
    for name in sorted(paths):
        if name in ignore:
            ignored += 1
            continue
        try:
            if not name.endswith(SKELETON_SUFFIX):
                raise RawDataError(paths[name], None, "unparsable file name: expected "
                                                      "SsssCcccPpppRrrrAaaa.skeleton")
            sample = parse_ntu_name(name)
            if dataset == "ntu60" and (sample.setup > _NTU60_LIMITS["setup"]
                                       or sample.action > _NTU60_LIMITS["action"]):
                raise RawDataError(paths[name], None, "an NTU RGB+D 120 sample (setup > 17 "
                                                      "or action > 60): prepare with ntu120")
        except RawDataError as err:
            located = RawDataError(paths[name], None, err.reason)
            if not skip_bad:
                raise located from None
            skipped.append(_skip_entry(located))
            continue
        training = tuple(ntu_is_training(sample, dataset, b) for b in benchmarks)
        planned = _Planned(name, sample.label, training)
        jobs.append(_Job(str(paths[name]), str(paths[name]), (planned,), ()))
        size += paths[name].stat().st_size
    unmatched = len(ignore - set(paths))
    if unmatched:
        notes.append(f"{unmatched} names of the ignore list match no file")
    return _Plan(jobs, benchmarks, skipped, ignored, notes, len(jobs), size)


def _plan_pku(
    dataset: str, layout: PkuLayout, ignore: frozenset[str],
    benchmarks: tuple[str, ...], skip_bad: bool,
) -> _Plan:
    part = 1 if dataset == "pku1" else 2
    splits = {}
    for benchmark in benchmarks:
        split_file = layout.splits / PKU_SPLIT_FILES[part][benchmark]
        if not split_file.is_file():
            raise RawDataError(split_file, None, f"split file of the {benchmark} benchmark not "
                                                 "found (the PKU-MMD download's split files)")
        train_videos, val_videos = read_pku_split(split_file)
        splits[benchmark] = (split_file, frozenset(train_videos), frozenset(val_videos))
    for folder in (layout.skeletons, layout.labels):
        if not folder.is_dir():
            raise AimCLRError(f"PKU-MMD folder {str(folder)!r} not found")
    label_files = sorted(entry.name for entry in os.scandir(layout.labels) if entry.is_file())
    if not label_files:
        raise AimCLRError(f"no label files in {str(layout.labels)!r}: expected PKU-MMD Part "
                          f"{part} label files such as "
                          f"{'0002-L.txt' if part == 1 else 'A01N01-L.txt'}")
    skipped: list[tuple[str, str]] = []
    notes: list[str] = []
    planned: list[tuple[_Planned, int, PkuInstance]] = []  # (sample, video index, instance)
    videos: list[tuple[Path, Path]] = []  # (skeleton file, label file)
    neither = dict.fromkeys(benchmarks, 0)
    all_names: set[str] = set()
    ignored = 0
    size = 0
    for file_name in label_files:
        label_file = layout.labels / file_name
        try:
            video = parse_pku_video_name(file_name, part)
            if not video.official:
                skipped.append((str(label_file), "video outside the published range, not read "
                                                 "by the reference scripts"))
                continue
            skeleton_file = layout.skeletons / file_name
            if not skeleton_file.is_file():
                raise RawDataError(skeleton_file, None, f"skeleton file not found (the label "
                                                        f"file {label_file} names this video)")
            instances = read_pku_labels(label_file)
        except RawDataError as err:
            located = RawDataError(label_file if err.path == file_name else err.path,
                                   err.line, err.reason)
            if not skip_bad:
                raise located from None
            skipped.append(_skip_entry(located))
            continue
        training = []
        for benchmark in benchmarks:
            split_file, train, val = splits[benchmark]
            if video.name in train and video.name in val:
                raise AimCLRError(f"{split_file}: video {video.name} is in both the training "
                                  "and the validation list")
            training.append(video.name in train)
            neither[benchmark] += video.name not in train and video.name not in val
        videos.append((skeleton_file, label_file))
        size += skeleton_file.stat().st_size + label_file.stat().st_size
        for instance in instances:
            name = video.sample_name(instance.action, instance.index)
            all_names.add(name)
            if name in ignore:
                ignored += 1
                continue
            planned.append((_Planned(name, instance.label, tuple(training)), len(videos) - 1,
                            instance))
    for benchmark, count in neither.items():
        if count:
            notes.append(f"{benchmark}: {count} videos are in neither list of "
                         f"{splits[benchmark][0].name}; they validate, as in the reference")
    unused = {e.name for e in os.scandir(layout.skeletons) if e.is_file()} - set(label_files)
    if unused:
        notes.append(f"{len(unused)} skeleton files have no label file and were not used")
    unmatched = len(ignore - all_names)
    if unmatched:
        notes.append(f"{unmatched} names of the ignore list match no action instance")
    # Sorted by name: names share a fixed-width video prefix, so each video's samples
    # form one run; a run becomes one job (the video is read once).
    planned.sort(key=lambda item: item[0].name)
    jobs: list[_Job] = []
    for sample, video_index, instance in planned:
        skeleton_file, label_file = videos[video_index]
        if jobs and jobs[-1].path == str(skeleton_file):
            last = jobs[-1]
            jobs[-1] = last._replace(samples=(*last.samples, sample),
                                     instances=(*last.instances, instance))
        else:
            jobs.append(_Job(str(skeleton_file), str(label_file), (sample,), (instance,)))
    return _Plan(jobs, benchmarks, skipped, ignored, notes, 2 * len(videos), size)


def _skip_entry(err: RawDataError, sample: str | None = None) -> tuple[str, str]:
    """``(what, reason)`` for the summary: the file (and the sample cut from it)."""
    what = err.path if sample is None or err.path.endswith(sample) else f"{sample} ({err.path})"
    return what, err.reason if err.line is None else f"line {err.line}: {err.reason}"


# ------------------------------------------------------------------------- workers
def _convert_job(job: _Job, frames: int) -> list[_Outcome]:
    """Parse one raw file and build the arrays of its samples (runs in a worker)."""
    if not job.instances:  # NTU: one file, one sample
        sample = job.samples[0]
        try:
            data, bodies = parse_ntu_skeleton(read_text(job.path), _NUM_PERSONS, job.path)
        except RawDataError as err:
            return [_Outcome(sample, None, None, err)]
        if len(bodies) == 0:
            return [_Outcome(sample, None, "0 frames", None)]
        if not bodies.any():
            return [_Outcome(sample, None, f"no body in any of the {len(bodies)} frames", None)]
        return [_Outcome(sample, reference_arrays(data, frames, "start"), None, None)]
    try:
        video = read_pku_frames(job.path)
    except RawDataError as err:
        return [_Outcome(sample, None, None, err) for sample in job.samples]
    outcomes = []
    for sample, instance in zip(job.samples, job.instances, strict=True):
        try:
            clip = cut_instance(video, instance, job.source)
        except RawDataError as err:
            outcomes.append(_Outcome(sample, None, None, err))
            continue
        outcomes.append(_Outcome(sample, reference_arrays(clip, frames, "center"), None, None))
    return outcomes


def _convert_jobs(jobs: list[_Job], frames: int) -> list[list[_Outcome]]:
    return [_convert_job(job, frames) for job in jobs]


def _run_jobs(jobs: list[_Job], frames: int, workers: int) -> Iterator[list[_Outcome]]:
    """Outcomes job by job, in order; at most a few tasks per worker in flight."""
    if workers <= 1:
        for job in jobs:
            yield _convert_job(job, frames)
        return
    per_task = 1 if any(job.instances for job in jobs[:1]) else 8
    tasks = iter([jobs[i : i + per_task] for i in range(0, len(jobs), per_task)])
    with multiprocessing.get_context().Pool(workers) as pool:
        pending = deque(pool.apply_async(_convert_jobs, (task, frames))
                        for task in islice(tasks, 4 * workers))
        while pending:
            done = pending.popleft().get()
            task = next(tasks, None)
            if task is not None:
                pending.append(pool.apply_async(_convert_jobs, (task, frames)))
            yield from done


# ------------------------------------------------------------------------- outputs
def output_files(part: str, frames: int = 50, full_length: bool = True) -> list[str]:
    """Names of the files :func:`prepare` writes per part in each benchmark folder.

    Args:
        part: ``"train"`` or ``"val"``.
        frames: the ``frames`` argument of :func:`prepare` (``0``: no short arrays).
        full_length: the ``full_length`` argument of :func:`prepare`.

    Returns:
        File names, arrays first and the label pickle last.

    Example:
        >>> output_files("train")
        ['train_data.npy', 'train_position.npy', 'train_motion.npy', 'train_label.npy', \
'train_label.pkl']
    """
    names = [f"{part}_data.npy"] if full_length else []
    if frames:
        names += [f"{part}_position.npy", f"{part}_motion.npy", f"{part}_label.npy"]
    return [*names, f"{part}_label.pkl"]


class _PartOutput:
    """The files of one part (train or val) of one benchmark."""

    def __init__(self, folder: Path, part: str, capacity: int, frames: int,
                 full_length: bool) -> None:
        self.folder = folder
        self.part = part
        self.names: list[str] = []
        self.labels: list[int] = []
        shape = (3, frames, NTU_NUM_JOINTS, _NUM_PERSONS)
        self.full = (NpyWriter(folder / f"{part}_data.npy",
                               (3, FULL_FRAMES, NTU_NUM_JOINTS, _NUM_PERSONS),
                               np.float32, capacity) if full_length else None)
        self.position = (NpyWriter(folder / f"{part}_position.npy", shape, np.float32,
                                   capacity) if frames else None)
        self.motion = (NpyWriter(folder / f"{part}_motion.npy", shape, np.float32, capacity)
                       if frames else None)
        self.frames = frames

    def writers(self) -> list[NpyWriter]:
        return [w for w in (self.full, self.position, self.motion) if w is not None]

    def append(self, sample: _Planned,
               arrays: tuple[np.ndarray, np.ndarray | None, np.ndarray | None]) -> None:
        for writer, array in zip((self.full, self.position, self.motion), arrays, strict=True):
            if writer is not None and array is not None:
                writer.append(array)
        self.names.append(sample.name)
        self.labels.append(sample.label)

    def close(self) -> list[Path]:
        """Finish every file; returns the temporary paths, label pickle last."""
        partials = [writer.close() for writer in self.writers()]
        if self.frames:
            shifted = np.array(self.labels, dtype=np.int64).reshape(-1, 1)
            if shifted.size:
                shifted -= shifted.min()
            label_npy = partial_path(self.folder / f"{self.part}_label.npy")
            with open(label_npy, "wb") as file:
                np.save(file, shifted)
            partials.append(label_npy)
        partials.append(write_pickle(self.folder / f"{self.part}_label.pkl",
                                     (self.names, list(self.labels))))
        return partials

    def discard(self) -> None:
        for writer in self.writers():
            writer.discard()
        for name in (f"{self.part}_label.npy", f"{self.part}_label.pkl"):
            partial_path(self.folder / name).unlink(missing_ok=True)


# ------------------------------------------------------------------------- entry point
def prepare(
    dataset: str,
    raw: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | PkuLayout,
    out: str | os.PathLike[str],
    *,
    ignore: str | os.PathLike[str] | None = None,
    benchmarks: Sequence[str] | None = None,
    frames: int = 50,
    full_length: bool = True,
    workers: int | None = None,
    skip_bad: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> PrepareSummary:
    """Convert raw NTU RGB+D / PKU-MMD files into the reference arrays under ``out``.

    Writes ``out/<benchmark>/`` for every benchmark (see :func:`output_files`) and
    ``out/prepare_summary.json`` last. Everything is written under temporary
    names and renamed at the end, so an interrupted run leaves no file under a
    final name. Peak memory does not grow with the number of samples.

    Args:
        dataset: ``"ntu60"``, ``"ntu120"``, ``"pku1"`` or ``"pku2"``.
        raw: NTU: the folder of ``.skeleton`` files, or several folders (NTU-120 is
            published as two). PKU: the download folder (see
            :meth:`PkuLayout.discover <aimclr.data.prepare.pku.PkuLayout.discover>`)
            or a :class:`~aimclr.data.prepare.pku.PkuLayout`.
        out: output folder (created if needed).
        ignore: optional file of sample names to leave out, one per line (NTU's
            "samples with missing skeletons"; for PKU the ``F...L...`` names).
        benchmarks: subset of the data set's benchmarks
            (:data:`~aimclr.data.prepare.benchmarks.BENCHMARKS`); ``None``: all.
        frames: frames of the short arrays (``*_position.npy``, ``*_motion.npy``,
            ``*_label.npy``); 50 is the reference; ``0`` writes none of them.
        full_length: write the 300-frame ``*_data.npy`` arrays.
        workers: parsing processes; ``None`` means one per CPU; ``1`` parses in the
            calling process.
        skip_bad: skip malformed files, names and label lines and list them in the
            summary instead of raising.
        overwrite: replace existing outputs; without it, existing outputs make the
            call fail before anything is written.
        progress: draw a progress bar on stderr.

    Returns:
        The summary (also written to ``out/prepare_summary.json``).

    Raises:
        AimCLRError: bad arguments, a missing or empty raw folder, a missing split
            file, existing outputs without ``overwrite``.
        RawDataError: a malformed raw file (without ``skip_bad``); nothing under
            ``out`` is changed.
    """
    started = time.perf_counter()
    if dataset not in BENCHMARKS:
        raise AimCLRError(f"dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    chosen = tuple(BENCHMARKS[dataset]) if benchmarks is None else tuple(benchmarks)
    unknown = [b for b in chosen if b not in BENCHMARKS[dataset]]
    if unknown or not chosen or len(set(chosen)) != len(chosen):
        raise AimCLRError(f"benchmarks of {dataset} must be distinct names among "
                          f"{', '.join(BENCHMARKS[dataset])}, got {list(chosen)}")
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 0:
        raise AimCLRError(f"frames must be an integer >= 0 (0: no short arrays), got {frames!r}")
    if not frames and not full_length:
        raise AimCLRError("nothing to write: frames=0 and full_length=False")
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise AimCLRError(f"workers must be an integer >= 1, got {workers!r}")
    ignored_names = frozenset() if ignore is None else read_ignore_list(ignore)
    out = Path(out)
    _check_output_folder(out)

    if dataset.startswith("ntu"):
        if isinstance(raw, PkuLayout):
            raise AimCLRError(f"{dataset} takes raw folders, not a PkuLayout")
        folders = [Path(raw)] if isinstance(raw, (str, os.PathLike)) else [Path(r) for r in raw]
        if not folders:
            raise AimCLRError("raw must name at least one folder")
        for folder in folders:  # a rerun would read the outputs as malformed raw files
            if folder.is_dir() and out.exists() and out.resolve() == folder.resolve():
                raise AimCLRError(f"the output folder {str(out)!r} is the raw folder "
                                  f"{str(folder)!r}; choose another output folder")  # fmt: skip
        plan = _plan_ntu(dataset, folders, ignored_names, chosen, skip_bad)
    else:
        if isinstance(raw, PkuLayout):
            layout = raw
        elif isinstance(raw, (str, os.PathLike)):
            layout = PkuLayout.discover(raw, 1 if dataset == "pku1" else 2)
        else:
            raise AimCLRError(f"{dataset} takes one download folder or a PkuLayout, got {raw!r}")
        plan = _plan_pku(dataset, layout, ignored_names, chosen, skip_bad)

    finals = [out / b / name for b in chosen for part in _PARTS
              for name in output_files(part, frames, full_length)] + [out / SUMMARY_FILE]
    existing = [str(path) for path in finals if path.exists()]
    if existing and not overwrite:
        raise AimCLRError(
            f"{len(existing)} output files exist already (e.g. {existing[0]!r}); pass "
            "overwrite=True (--overwrite) to replace them"
        )
    summary = PrepareSummary(dataset, out, skipped=list(plan.skipped), ignored=plan.ignored,
                             notes=list(plan.notes), files=plan.files, bytes=plan.bytes)
    workers = min(workers, max(1, len(plan.jobs)))
    summary.workers = workers
    _write(plan, out, frames, full_length, workers, skip_bad, progress, summary, started)
    return summary


def _check_output_folder(out: Path) -> None:
    """Refuse ``out`` before any work if a file stands where a folder must be."""
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise AimCLRError(f"output folder {str(out)!r} cannot be created: {str(existing)!r} "
                          "is a file")  # fmt: skip
    if not os.access(existing, os.W_OK | os.X_OK):
        raise AimCLRError(f"output folder {str(out)!r} is not writable: {str(existing)!r} "
                          "refuses new files")  # fmt: skip


def _write(plan: _Plan, out: Path, frames: int, full_length: bool, workers: int,
           skip_bad: bool, progress: bool, summary: PrepareSummary, started: float) -> None:
    """Convert the planned jobs and commit the outputs (or discard them on any error)."""
    created = [out / b for b in plan.benchmarks if not (out / b).exists()]
    for folder in (out, *(out / b for b in plan.benchmarks)):
        folder.mkdir(parents=True, exist_ok=True)
    outputs: list[tuple[_PartOutput, _PartOutput]] = []
    opened: list[_PartOutput] = []  # each as soon as it exists: a later one may fail to open
    partials: list[Path] = []
    try:
        for index, benchmark in enumerate(plan.benchmarks):
            capacity = [sum(job_sample.training[index] == (part == "train")
                            for job in plan.jobs for job_sample in job.samples)
                        for part in _PARTS]
            for i, part in enumerate(_PARTS):
                opened.append(_PartOutput(out / benchmark, part, capacity[i], frames,
                                          full_length))  # fmt: skip
            outputs.append((opened[-2], opened[-1]))
        total = sum(len(job.samples) for job in plan.jobs)
        bar = ProgressBar(total, summary.dataset, "samples", enabled=progress)
        for outcomes in _run_jobs(plan.jobs, frames, workers):
            for outcome in outcomes:
                bar.update()
                if outcome.error is not None:
                    if not skip_bad:
                        raise outcome.error
                    summary.skipped.append(_skip_entry(outcome.error, outcome.sample.name))
                elif outcome.arrays is None:
                    summary.skipped.append((outcome.sample.name, outcome.skipped or "empty"))
                else:
                    parts = zip(outputs, outcome.sample.training, strict=True)
                    for (train, val), training in parts:
                        (train if training else val).append(outcome.sample, outcome.arrays)
        bar.close()
        if not any(part.names for pair in outputs for part in pair):
            raise AimCLRError(
                f"no sample to write: {plan.ignored} left out by the ignore list, "
                f"{len(summary.skipped)} skipped (malformed or without skeletons) of the "
                f"{plan.files} raw files; nothing was written")  # fmt: skip
        for benchmark, (train, val) in zip(plan.benchmarks, outputs, strict=True):
            partials += train.close() + val.close()
            summary.samples[benchmark] = {"train": len(train.names), "val": len(val.names)}
        summary.seconds = time.perf_counter() - started
        summary_partial = partial_path(out / SUMMARY_FILE)
        summary_partial.write_text(json.dumps(summary.to_dict(), indent=1) + "\n",
                                   encoding="utf-8")
        # Arrays first, label pickles after them, the summary last.
        pickles = [p for p in partials if p.name.endswith(".pkl.partial")]
        commit([p for p in partials if p not in pickles] + pickles + [summary_partial])
    except BaseException:
        for output in opened:
            output.discard()
        for path in partials:
            path.unlink(missing_ok=True)
        for benchmark in plan.benchmarks:  # also a file whose writer failed while opening
            for part in _PARTS:
                for name in output_files(part, frames, full_length):
                    partial_path(out / benchmark / name).unlink(missing_ok=True)
        partial_path(out / SUMMARY_FILE).unlink(missing_ok=True)
        for folder in created:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
