"""The evaluation benchmarks: which samples train and which validate.

* NTU RGB+D 60: ``xsub`` (cross-subject: 20 training performers) and ``xview``
  (cross-view: cameras 2 and 3 train, camera 1 validates).
* NTU RGB+D 120: ``xsub`` (53 training performers) and ``xset`` (cross-setup:
  even setup ids train).
* PKU-MMD Part I / II: ``xsub`` and ``xview`` from the official split files
  (:data:`aimclr.data.prepare.pku.PKU_SPLIT_FILES`); a video in neither list
  validates, as in the reference script.
"""

from __future__ import annotations

from aimclr.data.prepare.ntu import NtuSampleId
from aimclr.errors import AimCLRError

__all__ = [
    "BENCHMARKS",
    "NTU60_TRAINING_CAMERAS",
    "NTU60_TRAINING_SUBJECTS",
    "NTU120_TRAINING_SUBJECTS",
    "ntu_is_training",
]

NTU60_TRAINING_SUBJECTS = frozenset({
    1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38,
})
"""Performers (``P``) of the NTU-60 cross-subject training set."""

NTU120_TRAINING_SUBJECTS = NTU60_TRAINING_SUBJECTS | frozenset({
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84,
    85, 86, 89, 91, 92, 93, 94, 95, 97, 98, 100, 103,
})
"""Performers (``P``) of the NTU-120 cross-subject training set."""

NTU60_TRAINING_CAMERAS = frozenset({2, 3})
"""Cameras (``C``) of the NTU-60 cross-view training set."""

BENCHMARKS: dict[str, tuple[str, ...]] = {
    "ntu60": ("xsub", "xview"),
    "ntu120": ("xsub", "xset"),
    "pku1": ("xsub", "xview"),
    "pku2": ("xsub", "xview"),
}
"""Benchmarks of each data set, in the order they are prepared."""


def ntu_is_training(sample: NtuSampleId, dataset: str, benchmark: str) -> bool:
    """Whether an NTU sample belongs to the training part of a benchmark.

    Args:
        sample: the ids of the sample.
        dataset: ``"ntu60"`` or ``"ntu120"``.
        benchmark: ``"xsub"`` or ``"xview"`` (NTU-60), ``"xsub"`` or ``"xset"``
            (NTU-120).

    Returns:
        ``True`` for training, ``False`` for validation.

    Raises:
        AimCLRError: an unknown data set or benchmark.

    Example:
        >>> from aimclr.data.prepare import parse_ntu_name
        >>> sample = parse_ntu_name("S018C001P045R001A061")
        >>> ntu_is_training(sample, "ntu120", "xsub"), ntu_is_training(sample, "ntu120", "xset")
        (True, True)
    """
    if dataset not in ("ntu60", "ntu120") or benchmark not in BENCHMARKS[dataset]:
        raise AimCLRError(
            f"unknown NTU benchmark {dataset!r}/{benchmark!r}: expected ntu60 with "
            f"{'/'.join(BENCHMARKS['ntu60'])} or ntu120 with {'/'.join(BENCHMARKS['ntu120'])}"
        )
    if benchmark == "xview":
        return sample.camera in NTU60_TRAINING_CAMERAS
    if benchmark == "xset":
        return sample.setup % 2 == 0
    subjects = NTU60_TRAINING_SUBJECTS if dataset == "ntu60" else NTU120_TRAINING_SUBJECTS
    return sample.subject in subjects
