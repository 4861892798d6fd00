"""Variable-length skeleton sequences and the ``.npz`` format of ``shared/data``.

:class:`RaggedSkeletons` holds sequences of different lengths concatenated along
time, with ``offsets`` marking where each starts (the ``.npz`` layout: ``data``
``(F, V, 3)``, ``offsets`` ``(N + 1,)``, ``labels``, ``class_names``, optional
``styles``, ``style_names``, ``subjects``). :meth:`RaggedSkeletons.to_array` applies
the reference preprocessing (centre, resize, optional yaw alignment) and returns
the fixed-size ``(N, 3, T, V, M)`` array that ST-GCN models take.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aimclr.data._validate import check_positive_int, describe_array
from aimclr.data.arrays import SkeletonTensorDataset
from aimclr.data.preprocess import align_yaw, center_on_joint, resize_sequence, sequence_to_ctvm
from aimclr.errors import AimCLRError

__all__ = ["RaggedSkeletons", "load_npz", "split_by_style", "style_indices"]


def _int_vector(values: object, name: str, count: int | None) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise AimCLRError(f"{name} must be a 1-D integer array, got {describe_array(arr)}")
    if count is not None and len(arr) != count:
        raise AimCLRError(f"{name} must have one entry per sequence ({count}), got {len(arr)}")
    return arr.astype(np.int64)


@dataclass(frozen=True)
class RaggedSkeletons:
    """Variable-length sequences stored back to back.

    Sequence ``i`` is ``data[offsets[i]:offsets[i + 1]]``. Build one with
    :func:`load_npz` or :meth:`from_sequences`; the constructor validates.

    Attributes:
        data: ``(F, V, C)`` frames of one person, or ``(F, M, V, C)`` for several;
            any float dtype (the ``.npz`` files store float16).
        offsets: ``(N + 1,)`` int64, ``offsets[0] == 0``, non-decreasing,
            ``offsets[-1] == F``.
        labels: ``(N,)`` int64 class indices.
        class_names: class names (may be empty).
        styles: ``(N,)`` int64 style index per sequence, or ``None``.
        style_names: style names (may be empty).
        subjects: ``(N,)`` int64 performer id per sequence, or ``None``.

    Raises:
        AimCLRError: inconsistent offsets, labels or optional fields.
    """

    data: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...] = ()
    styles: np.ndarray | None = None
    style_names: tuple[str, ...] = ()
    subjects: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        data = self.data
        if data.ndim not in (3, 4) or not np.issubdtype(data.dtype, np.floating):
            raise AimCLRError(
                "data must be floating with layout (F, V, C) or (F, M, V, C) (frames of all "
                f"sequences concatenated), got {describe_array(data)}"
            )
        offsets = _int_vector(self.offsets, "offsets", None)
        if (
            len(offsets) < 1
            or offsets[0] != 0
            or offsets[-1] != data.shape[0]
            or np.any(np.diff(offsets) < 0)
        ):
            raise AimCLRError(
                "offsets must be non-decreasing with offsets[0] == 0 and offsets[-1] == "
                f"{data.shape[0]} (frames in data), got {describe_array(np.asarray(offsets))} "
                f"starting {offsets[:3].tolist()} ending {offsets[-3:].tolist()}"
            )
        n = len(offsets) - 1
        labels = _int_vector(self.labels, "labels", n)
        if labels.size and labels.min() < 0:
            raise AimCLRError(f"labels must be >= 0, got minimum {int(labels.min())}")
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        object.__setattr__(self, "style_names", tuple(str(s) for s in self.style_names))
        for name in ("styles", "subjects"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _int_vector(value, name, n))

    @classmethod
    def from_sequences(
        cls,
        sequences: Sequence[np.ndarray],
        labels: Sequence[int] | np.ndarray,
        class_names: Sequence[str] = (),
        styles: Sequence[int] | np.ndarray | None = None,
        style_names: Sequence[str] = (),
        subjects: Sequence[int] | np.ndarray | None = None,
    ) -> RaggedSkeletons:
        """Concatenate a list of ``(T_i, V, C)`` (or ``(T_i, M, V, C)``) sequences.

        Args:
            sequences: ``N`` floating arrays ``(T_i, V, C)`` or ``(T_i, M, V, C)``;
                ``T_i`` may differ, ``V``, ``C`` (and ``M``) must not.
            labels: ``(N,)`` integer class indices, ``>= 0``.
            class_names: class names (may be empty).
            styles: ``(N,)`` integer style index per sequence, or ``None``.
            style_names: style names (may be empty).
            subjects: ``(N,)`` integer performer id per sequence, or ``None``.

        Returns:
            The collection: ``data`` ``(F, V, C)`` (or ``(F, M, V, C)``) with
            ``F = sum(T_i)``, in the sequences' dtype (promoted if they differ);
            ``offsets`` ``(N + 1,)``; the integer fields stored as ``int64``.

        Raises:
            AimCLRError: empty list, sequences whose non-time axes differ,
                non-floating sequences, a ``labels``, ``styles`` or ``subjects``
                count other than ``N``, or a negative label.

        Example:
            >>> seqs = [np.zeros((5, 25, 3)), np.zeros((8, 25, 3))]
            >>> RaggedSkeletons.from_sequences(seqs, [0, 1]).lengths.tolist()
            [5, 8]
        """
        if len(sequences) == 0:
            raise AimCLRError("sequences must hold at least one (T, V, C) array, got none")
        arrays = [np.asarray(s) for s in sequences]
        tail = arrays[0].shape[1:]
        for i, arr in enumerate(arrays):
            if arr.ndim not in (3, 4) or arr.shape[1:] != tail:
                raise AimCLRError(
                    f"every sequence must have layout (T, V, C) or (T, M, V, C) with the "
                    f"same V, C (and M) as sequence 0 {tail}; sequence {i} has "
                    f"{describe_array(arr)}"
                )
        offsets = np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int64)
        return cls(
            data=np.concatenate(arrays, axis=0),
            offsets=offsets,
            labels=np.asarray(labels),
            class_names=tuple(class_names),
            styles=None if styles is None else np.asarray(styles),
            style_names=tuple(style_names),
            subjects=None if subjects is None else np.asarray(subjects),
        )

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """``(N,)`` frame count of every sequence."""
        return np.diff(self.offsets)

    def sequence(self, index: int) -> np.ndarray:
        """Sequence ``index`` as ``float32`` ``(T_i, V, C)`` (or ``(T_i, M, V, C)``)."""
        if not -len(self) <= index < len(self):
            raise AimCLRError(f"index must lie in [0, {len(self)}), got {index}")
        index %= len(self)
        start, stop = self.offsets[index], self.offsets[index + 1]
        return np.asarray(self.data[start:stop], dtype=np.float32)

    def select(self, indices: Iterable[int]) -> RaggedSkeletons:
        """A new collection with the sequences at ``indices``, in that order."""
        idx = np.asarray(list(indices), dtype=np.int64)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise AimCLRError(f"indices must lie in [0, {len(self)}), got {idx.tolist()[:10]}")
        idx %= max(len(self), 1)
        if idx.size == 0:
            empty = np.zeros((0, *self.data.shape[1:]), dtype=self.data.dtype)
            frames = empty
        else:
            frames = np.concatenate([self.data[self.offsets[i] : self.offsets[i + 1]] for i in idx])
        lengths = self.lengths[idx]
        return RaggedSkeletons(
            data=frames,
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            labels=self.labels[idx],
            class_names=self.class_names,
            styles=None if self.styles is None else self.styles[idx],
            style_names=self.style_names,
            subjects=None if self.subjects is None else self.subjects[idx],
        )

    def to_array(
        self,
        num_frames: int = 50,
        num_persons: int = 2,
        center_joint: int | None = 20,
        align: bool = True,
        left: int = 4,
        right: int = 8,
    ) -> np.ndarray:
        """Preprocess every sequence to a fixed-size ``float32`` array (spec §1.2).

        Per sequence, as the reference: centre on ``center_joint`` per frame and
        person, resample all ``T_i`` frames to ``num_frames``
        (:func:`~aimclr.data.preprocess.resize_sequence`), then optionally
        :func:`~aimclr.data.preprocess.align_yaw`. Persons are zero-padded to
        ``num_persons``.

        Per-frame yaw alignment removes body turning during an action (e.g. a
        "walk-turn-left" becomes a straight walk in the body frame); pass
        ``align=False`` where turning is part of the label.

        Args:
            num_frames: output ``T`` (reference 50).
            num_persons: output ``M`` (reference 2).
            center_joint: joint subtracted per frame (20 = NTU spine-shoulder);
                ``None`` keeps world coordinates.
            align: apply per-frame yaw alignment (the reference does).
            left: left shoulder index for the alignment.
            right: right shoulder index for the alignment.

        Returns:
            ``(N, C, num_frames, V, num_persons)`` ``float32``.

        Raises:
            AimCLRError: a sequence with no frame, more persons than
                ``num_persons``, or a joint index out of range.

        Example:
            >>> seqs = [np.random.default_rng(i).normal(size=(7 + i, 25, 3)) for i in range(3)]
            >>> RaggedSkeletons.from_sequences(seqs, [0, 1, 2]).to_array().shape
            (3, 3, 50, 25, 2)
        """
        check_positive_int(num_frames, "num_frames")
        check_positive_int(num_persons, "num_persons")
        empty = np.flatnonzero(self.lengths == 0)
        if empty.size:
            raise AimCLRError(
                f"sequences {empty.tolist()[:10]} have no frames; remove them before resizing"
            )
        persons = 1 if self.data.ndim == 3 else self.data.shape[1]
        if persons > num_persons:
            raise AimCLRError(
                f"data holds M = {persons} persons (layout (F, M, V, C)), more than "
                f"num_persons = {num_persons}"
            )
        channels, joints = self.data.shape[-1], self.data.shape[-2]
        out = np.zeros((len(self), channels, num_frames, joints, num_persons), dtype=np.float32)
        for i in range(len(self)):
            x = sequence_to_ctvm(self.sequence(i), num_persons=persons)  # (C, T_i, V, M)
            if center_joint is not None:
                x = center_on_joint(x, center_joint)
            x = resize_sequence(x, num_frames, axis=1)
            if align:
                x = align_yaw(x, left=left, right=right)
            out[i, ..., :persons] = x
        return out

    def to_dataset(
        self,
        num_frames: int = 50,
        num_persons: int = 2,
        center_joint: int | None = 20,
        align: bool = True,
    ) -> SkeletonTensorDataset:
        """:meth:`to_array` wrapped as a dataset of ``(x (C, T, V, M), label)``."""
        x = self.to_array(num_frames, num_persons, center_joint=center_joint, align=align)
        return SkeletonTensorDataset(x, self.labels)


def load_npz(path: str | os.PathLike[str]) -> RaggedSkeletons:
    """Load a ``.npz`` file in the ``shared/data`` format.

    Required keys: ``data`` ``(F, V, 3)``, ``offsets`` ``(N + 1,)``, ``labels``
    ``(N,)``; optional: ``class_names``, ``styles``, ``style_names``,
    ``subjects``. The file is read without pickle. ``data`` keeps its stored
    dtype (float16 in ``bandai2.npz``); :meth:`RaggedSkeletons.sequence` and
    :meth:`RaggedSkeletons.to_array` return ``float32``.

    Raises:
        AimCLRError: missing file or keys, or inconsistent arrays.
    """
    path = Path(path)
    if not path.is_file():
        raise AimCLRError(f"npz file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            content = {key: archive[key] for key in archive.files}
    except Exception as err:  # zipfile / numpy errors for a malformed archive
        raise AimCLRError(f"cannot read {str(path)!r} as an .npz archive: {err}") from err
    missing = [key for key in ("data", "offsets", "labels") if key not in content]
    if missing:
        raise AimCLRError(
            f"{str(path)!r} lacks the keys {missing}; expected data (F, V, 3), "
            f"offsets (N + 1,), labels (N,) (found {sorted(content)})"
        )
    return RaggedSkeletons(
        data=content["data"],
        offsets=content["offsets"],
        labels=content["labels"],
        class_names=tuple(content.get("class_names", np.array([])).tolist()),
        styles=content.get("styles"),
        style_names=tuple(content.get("style_names", np.array([])).tolist()),
        subjects=content.get("subjects"),
    )


def style_indices(skeletons: RaggedSkeletons, styles: Iterable[str | int]) -> np.ndarray:
    """Sorted indices of the sequences whose style is in ``styles``.

    Args:
        skeletons: a collection with ``styles``.
        styles: style names (looked up in ``style_names``) or style indices.

    Returns:
        ``(N_s,)`` ``np.intp`` (int64 on 64-bit platforms) indices into
        ``skeletons``, ascending; ``N_s`` is the number of matching sequences.

    Raises:
        AimCLRError: the collection has no styles, or an unknown style name/index.

    Example:
        >>> seqs = [np.zeros((4, 25, 3))] * 3
        >>> s = RaggedSkeletons.from_sequences(seqs, [0, 0, 1], styles=[1, 0, 1],
        ...                                    style_names=["calm", "angry"])
        >>> style_indices(s, ["angry"]).tolist()
        [0, 2]
    """
    if skeletons.styles is None:
        raise AimCLRError("these sequences have no styles (the npz file lacks 'styles')")
    wanted: set[int] = set()
    num_styles = max(len(skeletons.style_names), int(skeletons.styles.max(initial=-1)) + 1)
    for style in styles:
        if isinstance(style, str):
            if style not in skeletons.style_names:
                raise AimCLRError(
                    f"unknown style {style!r}; known styles: {list(skeletons.style_names)}"
                )
            wanted.add(skeletons.style_names.index(style))
        elif isinstance(style, (int, np.integer)) and 0 <= style < num_styles:
            wanted.add(int(style))
        else:
            raise AimCLRError(
                f"style must be a name or an index in [0, {num_styles}), got {style!r}"
            )
    return np.flatnonzero(np.isin(skeletons.styles, sorted(wanted)))


def split_by_style(
    skeletons: RaggedSkeletons, test_styles: Iterable[str | int]
) -> tuple[np.ndarray, np.ndarray]:
    """Split into (train, test) indices: test holds the sequences of ``test_styles``.

    A cross-style protocol: the model never sees the held-out styles in training.

    Returns:
        ``(train_indices, test_indices)``: ``(N_train,)`` and ``(N_test,)``
        ``np.intp`` (int64 on 64-bit platforms) indices into ``skeletons``, each
        ascending, disjoint, together ``N``; ``test_indices`` is
        :func:`style_indices` of ``test_styles``.

    Raises:
        AimCLRError: see :func:`style_indices`.
    """
    test = style_indices(skeletons, test_styles)
    train = np.setdiff1d(np.arange(len(skeletons)), test)
    return train, test
