"""Train / test data sets named by a short spec string (``"synthetic"``, ``"ntu:DIR"``, a file)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from torch.utils.data import Dataset

from aimclr.data.arrays import SkeletonNpyDataset
from aimclr.data.ragged import load_npz
from aimclr.data.splits import split_by_style
from aimclr.data.synthetic import SyntheticActionDataset
from aimclr.errors import AimCLRError

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
    """

    train: Dataset[Any]
    test: Dataset[Any]
    num_classes: int
    name: str

    def __repr__(self) -> str:
        sizes = f"{len(cast(Sized, self.train))} train / {len(cast(Sized, self.test))} test"
        return f"DatasetSplits({self.name!r}, {sizes}, {self.num_classes} classes)"


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
) -> DatasetSplits:
    """Open the train / test data named by ``spec``; every error comes before training.

    * ``"synthetic"`` — :class:`~aimclr.data.synthetic.SyntheticActionDataset`:
      ``train_samples`` with seed ``seed`` and ``test_samples`` with seed
      ``seed + 10000``, ``num_frames`` × ``num_persons``, 12 classes.
    * ``"ntu:DIR"`` — the preprocessed NTU RGB+D / PKU-MMD arrays in ``DIR``:
      ``train_position.npy`` (or ``train_data.npy``) with ``train_label.pkl``, and
      ``val_*`` for the test set, memory-mapped
      (:class:`~aimclr.data.arrays.SkeletonNpyDataset`). The arrays keep their stored
      ``T`` and ``M``; ``num_frames`` and ``num_persons`` do not apply.
    * a path ending in ``.npz`` — sequences in the ``shared/data`` format
      (:func:`~aimclr.data.ragged.load_npz`), split by style
      (:func:`~aimclr.data.splits.split_by_style`: ``test_styles`` held out), each
      sequence resized to ``num_frames`` and centred per frame on the spine-shoulder
      joint in world coordinates (no yaw alignment, which would erase turning).

    Args:
        spec: ``"synthetic"``, ``"ntu:DIR"`` or the path of a ``.npz`` file.
        num_frames: ``T`` of synthetic and ``.npz`` samples (the reference uses 50).
        num_persons: ``M`` of synthetic and ``.npz`` samples.
        train_samples: size of the synthetic training set.
        test_samples: size of the synthetic test set.
        seed: seed of the synthetic sets.
        synthetic: keywords of :func:`~aimclr.data.synthetic.make_synthetic_actions`
            for the synthetic sets; ``None`` = :data:`SHORT_RUN_SYNTHETIC`.
        test_styles: ``.npz`` data: the style names (or indices) held out for testing.

    Returns:
        The :class:`DatasetSplits`.

    Raises:
        AimCLRError: an unknown spec, missing files or keys, or a ``.npz`` spec
            without ``test_styles``.

    Example:
        >>> splits = open_dataset("synthetic", num_frames=16, train_samples=24, test_samples=12)
        >>> splits
        DatasetSplits('synthetic', 24 train / 12 test, 12 classes)
        >>> tuple(splits.train[0][0].shape)
        (3, 16, 25, 1)
    """
    text = os.fspath(spec)
    if text == "synthetic":
        options = {"num_frames": num_frames, "num_persons": num_persons,
                   **(SHORT_RUN_SYNTHETIC if synthetic is None else synthetic)}  # fmt: skip
        train = SyntheticActionDataset(train_samples, seed=seed, **options)
        test = SyntheticActionDataset(test_samples, seed=seed + 10_000, **options)
        return DatasetSplits(train, test, len(train.class_names), "synthetic")
    if text.startswith("ntu:"):
        folder = Path(text[4:])
        train_set, test_set = _ntu_split(folder, "train"), _ntu_split(folder, "val")
        labels = [int(y) for dataset in (train_set, test_set) for y in dataset.labels]
        return DatasetSplits(train_set, test_set, max(labels) + 1 if labels else 1,
                             f"NTU arrays in {folder}")  # fmt: skip
    path = Path(text)
    if path.suffix != ".npz":
        raise AimCLRError(f"spec must be 'synthetic', 'ntu:DIR' or a .npz file, got {text!r}")
    if test_styles is None:
        raise AimCLRError(f"{path.name}: a .npz data set needs test_styles, the styles "
                          "held out for testing")  # fmt: skip
    skeletons = load_npz(path)
    train_idx, test_idx = split_by_style(skeletons, test_styles)
    held_in, held_out = (skeletons.select(indices).to_dataset(num_frames, num_persons,
                                                               align=False)
                         for indices in (train_idx, test_idx))  # fmt: skip
    return DatasetSplits(held_in, held_out, len(skeletons.class_names), path.name)


def parse_synthetic_options(options: Iterable[str]) -> dict[str, Any]:
    """Keywords for ``open_dataset(synthetic=...)`` from ``NAME=VALUE`` strings.

    Values are numbers, or JSON lists for ranges (``size_range=[0.9,1.1]``, turned
    into tuples as the generator expects).

    Raises:
        AimCLRError: an option without ``=`` or a value that is not a number or list.

    Example:
        >>> parse_synthetic_options(["max_yaw_deg=30", "size_range=[0.9,1.1]"])
        {'max_yaw_deg': 30.0, 'size_range': (0.9, 1.1)}
    """
    parsed: dict[str, Any] = {}
    for option in options:
        name, _, value = option.partition("=")
        try:
            parsed[name.strip()] = (tuple(json.loads(value)) if value.startswith("[")
                                    else float(value))  # fmt: skip
        except ValueError:
            raise AimCLRError(
                f"a synthetic option must be NAME=VALUE with a number or a JSON list as "
                f"VALUE, got {option!r}"
            ) from None
    return parsed


def _ntu_split(folder: Path, part: str) -> SkeletonNpyDataset:
    for name in (f"{part}_position.npy", f"{part}_data.npy"):
        if (folder / name).exists():
            return SkeletonNpyDataset(folder / name, folder / f"{part}_label.pkl")
    raise AimCLRError(f"no {part}_position.npy or {part}_data.npy in {folder}")
