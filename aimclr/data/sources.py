"""Train / test data sets named by a short spec string (``"synthetic"``, ``"ntu:DIR"``, a file)."""

from __future__ import annotations

import inspect
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from torch.utils.data import Dataset

from aimclr.data.arrays import SkeletonNpyDataset
from aimclr.data.ragged import NonFinitePolicy, RaggedSkeletons, load_npz
from aimclr.data.sizes import check_class_coverage
from aimclr.data.splits import SplitSpec, parse_split, split_by_style
from aimclr.data.synthetic import (
    SYNTHETIC_CLASSES,
    SyntheticActionDataset,
    make_synthetic_actions,
)
from aimclr.errors import AimCLRError
from aimclr.graph import NTU_RGBD, SkeletonLayout, get_layout

__all__ = ["SHORT_RUN_SYNTHETIC", "DatasetSplits", "open_dataset", "parse_synthetic_options"]

SHORT_RUN_SYNTHETIC: dict[str, Any] = {
    "max_yaw_deg": 20.0, "shear": 0.6, "bone_jitter": 0.02, "size_range": (0.95, 1.05),
    "gesture_prob": 0.0, "distractor_deg": 5.0,
}  # fmt: skip
"""The synthetic set of the README's main job (keywords of `make_synthetic_actions`).

Keywords of :func:`~aimclr.data.synthetic.make_synthetic_actions`: view, body shape
and timing vary in the ways the augmentations model (yaw, skew), while
instance-specific distractors (held gestures, random sway, bone-length jitter) are
kept small, so a short CPU run learns actions."""


@dataclass(frozen=True)
class DatasetSplits:
    """A training set and a held-out test set of ``(x (C, T, V, M), label)`` samples.

    Attributes:
        train: the pre-training set (its labels are used by monitors and probes only).
        test: the held-out set.
        num_classes: ``K``: the source's class count, or ``1 +`` the largest label
            of both sets where the source does not name its classes.
        name: a short description for logs, e.g. ``"synthetic"``.
        layout: the skeleton of the samples' ``V`` joints (the encoder's graph, the
            flip pairs of the views, the bones of the bone stream).
        class_names: the ``K`` class names where the source has them, else empty.
    """

    train: Dataset[Any]
    test: Dataset[Any]
    num_classes: int
    name: str
    layout: SkeletonLayout = NTU_RGBD
    class_names: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        """What a checkpoint records of its data: name, sizes, classes and layout.

        A trainer compares it on ``--resume`` (the data must not change within a run).
        """
        return {"name": self.name, "train": len(cast(Sized, self.train)),
                "test": len(cast(Sized, self.test)), "classes": self.num_classes,
                "layout": self.layout.name}  # fmt: skip

    def __repr__(self) -> str:
        sizes = f"{len(cast(Sized, self.train))} train / {len(cast(Sized, self.test))} test"
        return (f"DatasetSplits({self.name!r}, {sizes}, {self.num_classes} classes, "
                f"layout {self.layout.name!r})")


def open_dataset(
    spec: str | os.PathLike[str],
    *,
    num_frames: int = 50,
    num_persons: int = 1,
    train_samples: int = 1600,
    test_samples: int = 800,
    seed: int = 0,
    synthetic: Mapping[str, Any] | None = None,
    test_styles: Sequence[str | int] | None = None,
    split: str | SplitSpec | None = None,
    layout: str | SkeletonLayout | None = None,
    map_to: str | SkeletonLayout | None = None,
    nonfinite: NonFinitePolicy = "error",
) -> DatasetSplits:
    """Open the train / test data named by ``spec``; every error comes before training.

    * ``"synthetic"`` — :class:`~aimclr.data.synthetic.SyntheticActionDataset`:
      ``train_samples`` with seed ``seed`` and ``test_samples`` with seed
      ``seed + 10000``, ``num_frames`` × ``num_persons``, 12 classes, NTU layout.
    * ``"ntu:DIR"`` — the preprocessed NTU RGB+D / PKU-MMD arrays in ``DIR``:
      ``train_position.npy`` (or ``train_data.npy``) with ``train_label.pkl``, and
      ``val_*`` for the test set, memory-mapped
      (:class:`~aimclr.data.arrays.SkeletonNpyDataset`). The arrays keep their stored
      ``T`` and ``M``; ``num_frames`` and ``num_persons`` do not apply.
    * a path ending in ``.npz`` — sequences in the ``shared/data`` format
      (:func:`~aimclr.data.ragged.load_npz`) on the file's own skeleton layout (or
      ``layout``; converted to ``map_to`` when given), split by ``split`` (any
      :func:`~aimclr.data.splits.parse_split` spec) or by ``test_styles``; there
      is no default split. Each sequence is resized to ``num_frames`` and centred
      per frame on the layout's centre joint in world coordinates (no yaw alignment,
      which would erase turning).

    Args:
        spec: ``"synthetic"``, ``"ntu:DIR"`` or the path of a ``.npz`` file.
        num_frames: ``T`` of synthetic and ``.npz`` samples (the reference uses 50).
        num_persons: ``M`` of synthetic and ``.npz`` samples.
        train_samples: size of the synthetic training set.
        test_samples: size of the synthetic test set.
        seed: seed of the synthetic sets, and of a ``random`` split without its own.
        synthetic: keywords of :func:`~aimclr.data.synthetic.make_synthetic_actions`
            for the synthetic sets; ``None`` = :data:`SHORT_RUN_SYNTHETIC`.
        test_styles: ``.npz`` data: the style names (or indices) held out for
            testing (the same as ``split="style:..."``).
        split: ``.npz`` data: a split spec such as ``"subject:1,2"`` or
            ``"random:0.2"``, or a parsed :class:`~aimclr.data.splits.SplitSpec`.
        layout: ``.npz`` data: the file's layout, overriding its ``layout`` string.
        map_to: ``.npz`` data: convert the joints to this layout
            (:meth:`~aimclr.data.ragged.RaggedSkeletons.to_layout`), e.g.
            ``"ntu-rgb+d"`` for Kinect v1 recordings.
        nonfinite: ``.npz`` data: ``"error"`` refuses sequences with NaN or infinite
            coordinates, ``"drop"`` leaves them out with a warning.

    Returns:
        The :class:`DatasetSplits`.

    Raises:
        AimCLRError: an unknown spec, missing files or keys, an ``.npz`` option
            for other data, a ``.npz`` file without a split (the message lists the
            splits the file offers), a split that leaves a side empty, a layout
            that does not fit, or ``.npz`` data with other than 3 coordinates per
            joint (2-D keypoints: the views need x, y, z).

    Example:
        >>> splits = open_dataset("synthetic", num_frames=16, train_samples=24, test_samples=12)
        >>> splits
        DatasetSplits('synthetic', 24 train / 12 test, 12 classes, layout 'ntu-rgb+d')
        >>> tuple(splits.train[0][0].shape)
        (3, 16, 25, 1)
    """
    text = os.fspath(spec)
    is_npz = not (text == "synthetic" or text.startswith("ntu:"))
    npz_only = {"test_styles": test_styles, "split": split, "layout": layout, "map_to": map_to}
    given = [name for name, value in npz_only.items() if value is not None]
    if not is_npz and given:
        raise AimCLRError(f"{', '.join(given)} apply to .npz data only, not to {text!r}")
    if text == "synthetic":
        options = {"num_frames": num_frames, "num_persons": num_persons,
                   **(SHORT_RUN_SYNTHETIC if synthetic is None else synthetic)}  # fmt: skip
        train = SyntheticActionDataset(train_samples, seed=seed, **options)
        test = SyntheticActionDataset(test_samples, seed=seed + 10_000, **options)
        return DatasetSplits(train, test, len(train.class_names), "synthetic",
                             class_names=SYNTHETIC_CLASSES)  # fmt: skip
    if text.startswith("ntu:"):
        folder = Path(text[4:])
        train_set, test_set = _ntu_splits(folder)
        labels = [int(y) for dataset in (train_set, test_set) for y in dataset.labels]
        return DatasetSplits(train_set, test_set, max(labels) + 1 if labels else 1,
                             f"NTU arrays in {folder}")  # fmt: skip
    path = Path(text)
    if path.suffix != ".npz":
        raise AimCLRError(f"spec must be 'synthetic', 'ntu:DIR' or a .npz file, got {text!r}")
    if split is not None and test_styles is not None:
        raise AimCLRError("give either split or test_styles (a 'style:' split), not both")
    chosen = parse_split(split, seed) if isinstance(split, str) else split
    skeletons = load_npz(path, layout=layout, nonfinite=nonfinite)
    _check_3d(skeletons, path)
    empty = np.flatnonzero(skeletons.lengths == 0)
    if empty.size:  # file indices here; after the split they would be the side's
        raise AimCLRError(
            f"{path.name}: sequences {empty[:10].tolist()}{' ...' if empty.size > 10 else ''} "
            f"({empty.size} of {len(skeletons)}) have no frames (offsets[i] == offsets[i + 1]); "
            f"remove them from the file"
        )
    if map_to is not None:
        skeletons = skeletons.to_layout(get_layout(map_to))
    if chosen is not None:
        train_idx, test_idx = chosen.split(skeletons)
    elif test_styles is not None:
        train_idx, test_idx = split_by_style(skeletons, test_styles)
    else:
        raise AimCLRError(f"{path.name}: choose how to split it into training and test "
                          f"sequences (no split is assumed): {_split_choices(skeletons)}")
    check_class_coverage(skeletons.labels[train_idx], skeletons.labels[test_idx],
                         stacklevel=3)
    try:
        held_in, held_out = (skeletons.select(indices).to_dataset(num_frames, num_persons,
                                                                   align=False)
                             for indices in (train_idx, test_idx))  # fmt: skip
    except AimCLRError as err:  # name the file: the message speaks of its sequences
        raise AimCLRError(f"{path.name}: {err}") from None
    if skeletons.layout is None:  # to_dataset refuses a file without a layout first
        raise AimCLRError(f"{path.name}: the skeleton layout is unknown")
    return DatasetSplits(held_in, held_out, max(len(skeletons.class_names),
                                                int(skeletons.labels.max(initial=0)) + 1),
                         path.name, skeletons.layout, skeletons.class_names)  # fmt: skip


def _check_3d(skeletons: RaggedSkeletons, path: Path) -> None:
    """Refuse coordinates other than x, y, z, which the pre-training views need."""
    channels = skeletons.data.shape[-1]
    if channels != 3:
        raise AimCLRError(
            f"{path.name}: data {skeletons.data.shape} holds C = {channels} coordinates per "
            f"joint, but open_dataset feeds the AimCLR views, whose shear and rotation need "
            f"3-D joints (C = 3: x, y, z). For 2-D keypoints append a constant depth "
            f"(np.concatenate([data, np.zeros_like(data[..., :1])], axis=-1)) or lift them to "
            f"3-D; load_npz itself reads C = {channels} for an encoder and views of your own"
        )


def _split_choices(skeletons: RaggedSkeletons) -> str:
    """The split specs a collection offers, for an error message."""
    choices = []
    if skeletons.styles is not None:
        names = list(skeletons.style_names) or sorted(set(skeletons.styles.tolist()))
        choices.append(f"style:NAME[,NAME...] with the styles {names[:12]}")
    if skeletons.subjects is not None:
        ids = sorted(set(skeletons.subjects.tolist()))
        choices.append(f"subject:ID[,ID...] with the subjects {ids[:12]}"
                       + (" ..." if len(ids) > 12 else ""))  # fmt: skip
    for key in sorted(skeletons.groups):
        values = sorted(set(skeletons.groups[key].tolist()))
        choices.append(f"key:{key}=VALUE[,VALUE...] with the values {values[:12]}"
                       + (" ..." if len(values) > 12 else ""))  # fmt: skip
    choices += ["random:FRACTION[,seed=N] (a seeded share of every class)",
                "file:PATH (a file listing the test sequences)"]
    return "; ".join(choices)


# Keywords of make_synthetic_actions that open_dataset sets itself.
_SET_BY_OPEN_DATASET = ("num_samples", "seed", "num_frames", "num_persons")


def parse_synthetic_options(options: Iterable[str]) -> dict[str, Any]:
    """Keywords for ``open_dataset(synthetic=...)`` from ``NAME=VALUE`` strings.

    ``NAME`` is a keyword of :func:`~aimclr.data.synthetic.make_synthetic_actions`
    other than those :func:`open_dataset` sets (``num_samples``, ``seed``,
    ``num_frames``, ``num_persons``). Values are finite numbers, a JSON list of two
    numbers for ``size_range`` (``size_range=[0.9,1.1]``, a tuple for the
    generator), and ``true`` or ``false`` for ``center``.

    Raises:
        AimCLRError: an option without ``=``, an unknown or reserved name (the
            message lists the names), or a value of the wrong kind.

    Example:
        >>> parse_synthetic_options(["max_yaw_deg=30", "size_range=[0.9,1.1]"])
        {'max_yaw_deg': 30.0, 'size_range': (0.9, 1.1)}
    """
    names = [name for name in inspect.signature(make_synthetic_actions).parameters
             if name not in _SET_BY_OPEN_DATASET]  # fmt: skip
    parsed: dict[str, Any] = {}
    for option in options:
        name, equals, value = (part.strip() for part in str(option).partition("="))
        if not equals or not name:
            raise AimCLRError(f"a synthetic option must be NAME=VALUE, got {option!r}; NAME "
                              f"is one of {names}")  # fmt: skip
        if name not in names:
            reserved = (f" ({name} is set by its own option)"
                        if name in _SET_BY_OPEN_DATASET else "")  # fmt: skip
            raise AimCLRError(f"unknown synthetic option {name!r}{reserved}; NAME in NAME=VALUE "
                              f"is one of {names}")  # fmt: skip
        parsed[name] = _synthetic_value(name, value, option)
    return parsed


def _synthetic_value(name: str, value: str, option: str) -> Any:
    if name == "center":
        if value.lower() not in ("true", "false"):
            raise AimCLRError(f"a synthetic option must be NAME=VALUE with VALUE true or false "
                              f"for center, got {option!r}")  # fmt: skip
        return value.lower() == "true"
    try:
        number = json.loads(value) if name == "size_range" else float(value)
    except ValueError:
        number = None
    if name == "size_range":
        if not (isinstance(number, list) and len(number) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in number
        )):  # fmt: skip
            raise AimCLRError(f"a synthetic option must be NAME=VALUE with a JSON list of two "
                              f"numbers as VALUE for size_range, got {option!r}")  # fmt: skip
        return (float(number[0]), float(number[1]))
    if not isinstance(number, float) or not math.isfinite(number):
        raise AimCLRError(f"a synthetic option must be NAME=VALUE with a finite number as "
                          f"VALUE, got {option!r}")  # fmt: skip
    return number


def _ntu_splits(folder: Path) -> tuple[SkeletonNpyDataset, SkeletonNpyDataset]:
    """The training and test parts of an ``ntu:`` folder, both of one array kind.

    The 50-frame ``*_position.npy`` arrays are preferred, the 300-frame ``*_data.npy``
    ones used where a folder has only those; a folder with one kind for training and
    the other for testing is refused (their frame counts differ).
    """
    def path(part: str, kind: str) -> Path:
        return folder / f"{part}_{kind}.npy"

    for kind in ("position", "data"):
        if path("train", kind).exists() and path("val", kind).exists():
            return (SkeletonNpyDataset(path("train", kind), folder / "train_label.pkl"),
                    SkeletonNpyDataset(path("val", kind), folder / "val_label.pkl"))
    present = [p.name for kind in ("position", "data") for part in ("train", "val")
               if (p := path(part, kind)).exists()]  # fmt: skip
    raise AimCLRError(
        f"an ntu: folder needs train_position.npy and val_position.npy (50 frames) or "
        f"train_data.npy and val_data.npy (300 frames); {folder} has "
        f"{', '.join(present) if present else 'none of them'} (prepare it with "
        "python -m aimclr.data.prepare)"
    )
