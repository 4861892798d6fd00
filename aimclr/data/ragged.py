"""Variable-length skeleton sequences and the ``.npz`` format of ``shared/data``.

:class:`RaggedSkeletons` holds sequences of different lengths concatenated along
time, with ``offsets`` marking where each starts (the ``.npz`` layout: ``data``
``(F, V, 3)``, ``offsets`` ``(N + 1,)``, ``labels``, ``class_names``, ``layout``,
``joint_names``, optional ``styles``, ``style_names``, ``subjects``,
``sequence_names`` and further per-sequence integer keys such as ``views``).
:meth:`RaggedSkeletons.to_array` applies the reference preprocessing (centre,
resize, optional yaw alignment) on the collection's own skeleton layout and returns
the fixed-size ``(N, 3, T, V, M)`` array that ST-GCN models take;
:meth:`RaggedSkeletons.to_layout` converts the joints to another layout.

Splitting into training and test sets lives in :mod:`aimclr.data.splits`.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from aimclr.data._layouts import default_layout, resolve_layout, warn_if_names_differ
from aimclr.data._validate import check_positive_int, describe_array, open_npz
from aimclr.data.arrays import SkeletonTensorDataset
from aimclr.data.preprocess import align_yaw, center_on_joint, resize_sequence, sequence_to_ctvm
from aimclr.errors import AimCLRError, AimCLRWarning
from aimclr.graph import SkeletonLayout, get_layout, joint_mapping

__all__ = ["NonFinitePolicy", "RaggedSkeletons", "load_npz"]

NonFinitePolicy = Literal["error", "drop"]
"""What :func:`load_npz` does with sequences that hold NaN or infinite coordinates."""

# Keys of the format with a fixed meaning; any other (N,) integer array is a group key.
_FORMAT_KEYS = frozenset({
    "data", "offsets", "labels", "class_names", "joint_names", "layout", "fps", "styles",
    "style_names", "subjects", "sequence_names", "up_axis", "source",
})  # fmt: skip


def _int_vector(values: object, name: str, count: int | None) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise AimCLRError(f"{name} must be a 1-D integer array, got {describe_array(arr)}")
    if count is not None and len(arr) != count:
        raise AimCLRError(f"{name} must have one entry per sequence ({count}), got {len(arr)}")
    return arr.astype(np.int64)


def _str_tuple(values: object, name: str) -> tuple[str, ...]:
    """``values`` as a tuple of str; a bare string or a non-iterable is an error."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise AimCLRError(f"{name} must be a sequence of strings, got {values!r:.80}")
    return tuple(str(v) for v in values)


def _check_named_indices(
    indices: np.ndarray, names: tuple[str, ...], name: str, names_key: str
) -> None:
    """Raise unless every index lies in ``[0, len(names))`` (when names are given)."""
    if not indices.size:
        return
    if indices.min() < 0:
        raise AimCLRError(f"{name} must be >= 0, got minimum {int(indices.min())}")
    if names and indices.max() >= len(names):
        bad = np.flatnonzero(indices >= len(names))
        raise AimCLRError(
            f"{name} must index the {len(names)} {names_key} (values in [0, {len(names)})), "
            f"got {int(indices.max())}; sequences {bad[:5].tolist()}"
            f"{' ...' if bad.size > 5 else ''} ({bad.size} in all) are out of range"
        )


def _nonfinite_report(counts: np.ndarray, lengths: np.ndarray, names: Sequence[str]) -> str:
    bad = np.flatnonzero(counts)
    shown = []
    for i in bad[:8]:
        name = f" {names[i]!r}" if names else ""
        shown.append(f"sequence {i}{name} ({counts[i]} of {lengths[i]} frames)")
    more = f" and {len(bad) - 8} more" if len(bad) > 8 else ""
    return (
        f"{int(counts.sum())} frames of {len(bad)} sequences hold NaN or infinite coordinates: "
        f"{', '.join(shown)}{more}"
    )


def _group_arrays(groups: object) -> dict[str, np.ndarray]:
    if groups is None:
        return {}
    if not isinstance(groups, Mapping):
        raise AimCLRError(
            f"groups must map key names to (N,) integer arrays, got {type(groups).__name__}"
        )
    return {str(key): np.asarray(value) for key, value in groups.items()}


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
        layout: the skeleton layout of the ``V`` joints; ``None`` (the default)
            means: the built-in layout whose joint names equal ``joint_names``,
            else ``ntu-rgb+d`` when ``V = 25`` and no names are given, else
            unknown (:meth:`to_array` then needs explicit joint indices).
        joint_names: ``V`` joint names in storage order, or empty.
        sequence_names: ``N`` sequence names (the clips' file names), or empty.
        groups: further ``(N,)`` integer arrays by key, e.g. ``{"views": ...}``;
            :meth:`values_of` reads them and the built-in keys alike.

    Raises:
        AimCLRError: inconsistent offsets, labels or optional fields, or a
            layout whose joint count is not ``V``.
    """

    data: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...] = ()
    styles: np.ndarray | None = None
    style_names: tuple[str, ...] = ()
    subjects: np.ndarray | None = None
    layout: SkeletonLayout | None = None
    joint_names: tuple[str, ...] = ()
    sequence_names: tuple[str, ...] = ()
    groups: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        data = self.data
        if not isinstance(data, np.ndarray):
            raise AimCLRError(
                f"data must be a numpy array (F, V, C) or (F, M, V, C), got {type(data).__name__}"
            )
        if not isinstance(self.groups, Mapping):
            raise AimCLRError(
                "groups must map key names to (N,) integer arrays, got "
                f"{type(self.groups).__name__}"
            )
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
        for name in ("class_names", "style_names", "joint_names", "sequence_names"):
            object.__setattr__(self, name, _str_tuple(getattr(self, name), name))
        for name in ("styles", "subjects"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _int_vector(value, name, n))
        _check_named_indices(labels, self.class_names, "labels", "class_names")
        if self.styles is not None:
            _check_named_indices(self.styles, self.style_names, "styles", "style_names")
        object.__setattr__(self, "groups", {
            str(key): _int_vector(value, f"group {key!r}", n)
            for key, value in self.groups.items()
        })  # fmt: skip
        num_joints = data.shape[-2]
        if self.joint_names and len(self.joint_names) != num_joints:
            raise AimCLRError(
                f"joint_names must name the V = {num_joints} joints of data "
                f"({describe_array(data)}), got {len(self.joint_names)} names"
            )
        if self.sequence_names and len(self.sequence_names) != n:
            raise AimCLRError(
                f"sequence_names must have one entry per sequence ({n}), got "
                f"{len(self.sequence_names)}"
            )
        layout = self.layout
        if layout is None:
            layout = default_layout(num_joints, self.joint_names)
        elif not isinstance(layout, SkeletonLayout):
            raise AimCLRError(
                f"layout must be a SkeletonLayout or None, got {type(layout).__name__}; "
                "from_sequences and load_npz also take layout names"
            )
        if layout is not None and layout.num_joints != num_joints:
            raise AimCLRError(
                f"layout {layout.name!r} has {layout.num_joints} joints (centre joint "
                f"{layout.describe_joint(layout.center)}), but data has V = {num_joints} "
                f"joints ({describe_array(data)}, layout (F, V, C) or (F, M, V, C))"
            )
        object.__setattr__(self, "layout", layout)

    @classmethod
    def from_sequences(
        cls,
        sequences: Sequence[np.ndarray],
        labels: Sequence[int] | np.ndarray,
        class_names: Sequence[str] = (),
        styles: Sequence[int] | np.ndarray | None = None,
        style_names: Sequence[str] = (),
        subjects: Sequence[int] | np.ndarray | None = None,
        layout: str | SkeletonLayout | None = None,
        joint_names: Sequence[str] = (),
        sequence_names: Sequence[str] = (),
        groups: Mapping[str, Sequence[int] | np.ndarray] | None = None,
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
            layout: the joints' layout (name or object); ``None`` as in the
                class (by ``joint_names``, else ``ntu-rgb+d`` for ``V = 25``).
            joint_names: ``V`` joint names, or empty; when given with a layout
                that has names, differing names raise an
                :class:`~aimclr.errors.AimCLRWarning`.
            sequence_names: ``N`` names, or empty.
            groups: further per-sequence integer keys, e.g. ``{"views": [...]}``.

        Returns:
            The collection: ``data`` ``(F, V, C)`` (or ``(F, M, V, C)``) with
            ``F = sum(T_i)``, in the sequences' dtype (promoted if they differ);
            ``offsets`` ``(N + 1,)``; the integer fields stored as ``int64``.

        Raises:
            AimCLRError: empty list, sequences whose non-time axes differ,
                non-floating sequences, a ``labels``, ``styles`` or ``subjects``
                count other than ``N``, a negative label, an unknown layout name,
                or a layout with another joint count.

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
        resolved = None if layout is None else get_layout(layout)
        names = _str_tuple(joint_names, "joint_names")
        if resolved is not None and len(names) == resolved.num_joints:
            warn_if_names_differ(resolved, names, "from_sequences")
        offsets = np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int64)
        return cls(
            data=np.concatenate(arrays, axis=0),
            offsets=offsets,
            labels=np.asarray(labels),
            class_names=_str_tuple(class_names, "class_names"),
            styles=None if styles is None else np.asarray(styles),
            style_names=_str_tuple(style_names, "style_names"),
            subjects=None if subjects is None else np.asarray(subjects),
            layout=resolved,
            joint_names=names,
            sequence_names=_str_tuple(sequence_names, "sequence_names"),
            groups=_group_arrays(groups),
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

    def values_of(self, key: str) -> np.ndarray:
        """The ``(N,)`` int64 per-sequence values of ``key``.

        ``key`` is ``"labels"``, ``"subjects"``, ``"styles"`` or one of
        :attr:`groups` (further integer keys of the ``.npz`` file, e.g. ``"views"``).

        Raises:
            AimCLRError: the collection has no such key; the message lists those
                it has.
        """
        if not isinstance(key, str):
            raise AimCLRError(f"key must be a string such as 'subjects', got {key!r}")
        builtin = {"labels": self.labels, "subjects": self.subjects, "styles": self.styles}
        values = builtin[key] if key in builtin else self.groups.get(key)
        if values is None:
            have = [k for k, v in builtin.items() if v is not None] + sorted(self.groups)
            raise AimCLRError(
                f"these sequences have no per-sequence key {key!r}; they have {have} "
                "(further (N,) integer arrays of an .npz file are kept as keys)"
            )
        return values

    def select(self, indices: Iterable[int]) -> RaggedSkeletons:
        """A new collection with the sequences at ``indices``, in that order."""
        try:
            idx = np.asarray(list(indices), dtype=np.int64)
        except (TypeError, ValueError) as err:
            raise AimCLRError(
                f"indices must be an iterable of sequence indices, got {indices!r:.80}"
            ) from err
        if idx.ndim != 1:
            raise AimCLRError(f"indices must be a flat list of integers, got shape {idx.shape}")
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise AimCLRError(f"indices must lie in [0, {len(self)}), got {idx.tolist()[:10]}")
        idx %= max(len(self), 1)
        if idx.size == 0:
            frames = np.zeros((0, *self.data.shape[1:]), dtype=self.data.dtype)
        else:
            frames = np.concatenate([self.data[self.offsets[i] : self.offsets[i + 1]] for i in idx])
        lengths = self.lengths[idx]
        return dataclasses.replace(
            self,
            data=frames,
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            labels=self.labels[idx],
            styles=None if self.styles is None else self.styles[idx],
            subjects=None if self.subjects is None else self.subjects[idx],
            sequence_names=tuple(self.sequence_names[i] for i in idx)
            if self.sequence_names else (),
            groups={key: values[idx] for key, values in self.groups.items()},
        )

    def nonfinite_frames(self) -> np.ndarray:
        """``(N,)`` int64: the frames of each sequence that hold a NaN or infinite value."""
        if self.data.shape[0] == 0:
            return np.zeros(len(self), dtype=np.int64)
        bad = ~np.isfinite(self.data.reshape(self.data.shape[0], -1)).all(axis=1)
        running = np.concatenate([[0], np.cumsum(bad, dtype=np.int64)])
        counts: np.ndarray = running[self.offsets[1:]] - running[self.offsets[:-1]]
        return counts

    def to_layout(
        self,
        target: str | SkeletonLayout,
        mapping: Sequence[Sequence[int]] | None = None,
    ) -> RaggedSkeletons:
        """Convert the joints to another layout, e.g. Kinect v1 recordings to NTU RGB+D.

        Target joint ``j`` becomes the mean of the source joints ``mapping[j]``
        (in float32, stored back in the data's dtype).

        Args:
            target: the layout wanted (name or object).
            mapping: ``target.num_joints`` sequences of source joint indices;
                ``None`` uses the built-in :func:`~aimclr.graph.joint_mapping`
                from :attr:`layout` (documented there).

        Returns:
            A new collection on ``target`` (``joint_names`` from ``target``).

        Raises:
            AimCLRError: no layout to map from and no ``mapping``, no built-in
                mapping between the two layouts, or a malformed ``mapping``.

        Example:
            >>> v1 = RaggedSkeletons.from_sequences([np.zeros((4, 20, 3))], [0],
            ...                                     layout="kinect-v1")
            >>> v1.to_layout("ntu-rgb+d").data.shape
            (4, 25, 3)
        """
        dst = get_layout(target)
        num_source = self.data.shape[-2]
        if mapping is None:
            if self.layout is None:
                raise AimCLRError(
                    f"these sequences have no layout (V = {num_source}), so there is no "
                    f"built-in mapping to {dst.name!r}; pass mapping=[source joints of each "
                    f"of the {dst.num_joints} target joints]"
                )
            mapping = joint_mapping(self.layout, dst)
        try:
            table = [tuple(int(j) for j in sources) for sources in mapping]
        except (TypeError, ValueError) as err:
            raise AimCLRError(
                f"mapping must be a sequence of source-joint sequences, one per joint of "
                f"{dst.name!r}, got {mapping!r:.80}"
            ) from err
        if len(table) != dst.num_joints or any(
            not sources or not all(0 <= j < num_source for j in sources) for sources in table
        ):
            raise AimCLRError(
                f"mapping must list, for each of the {dst.num_joints} joints of layout "
                f"{dst.name!r}, at least one source joint in [0, {num_source}); got {table}"
            )
        weights = np.zeros((num_source, dst.num_joints), dtype=np.float32)
        for target_joint, sources in enumerate(table):
            for source_joint in sources:
                weights[source_joint, target_joint] += 1.0 / len(sources)
        mapped = np.einsum("...vc,vw->...wc", self.data.astype(np.float32), weights)
        return dataclasses.replace(
            self, data=mapped.astype(self.data.dtype), layout=dst, joint_names=dst.joint_names
        )

    def _joint_indices(
        self, center_joint: int | Literal["layout"] | None, align: bool,
        left: int | None, right: int | None,
    ) -> tuple[int | None, int, int]:
        """Resolve the centre and shoulder joints from the arguments and the layout."""
        layout, joints = self.layout, self.data.shape[-2]
        where = (
            f"layout {layout.name!r}" if layout is not None
            else f"these {joints}-joint sequences (no layout)"
        )
        how = (
            "load_npz(path, layout=...) or from_sequences(..., layout=...), a built-in "
            "name or a SkeletonLayout"
        )
        if isinstance(center_joint, str) and center_joint == "layout":
            if layout is None:
                raise AimCLRError(
                    f"these {joints}-joint sequences have no layout, so their centre joint "
                    f"is unknown; give a layout ({how}), or pass center_joint=INDEX (None "
                    "keeps world coordinates)"
                )
            center_joint = layout.center
        if center_joint is not None and (
            isinstance(center_joint, bool) or not isinstance(center_joint, (int, np.integer))
            or not 0 <= center_joint < joints
        ):
            centre = (
                "" if layout is None
                else f" (its centre joint is {layout.describe_joint(layout.center)})"
            )
            raise AimCLRError(
                f"center_joint = {center_joint!r} is not a joint index of {where}{centre}: "
                f"expected an index in [0, {joints}), 'layout' or None"
            )
        if not align:
            return center_joint, 0, 0
        if left is None or right is None:
            if layout is None or layout.shoulders is None:
                what = (
                    f"these {joints}-joint sequences have no layout, so their shoulder "
                    "joints are unknown" if layout is None
                    else f"layout {layout.name!r} names no shoulder joints"
                )
                raise AimCLRError(
                    f"{what} for the yaw alignment; give a layout with shoulders ({how}), "
                    "or pass left=, right=, or align=False"
                )
            left = layout.shoulders[0] if left is None else left
            right = layout.shoulders[1] if right is None else right
        for name, joint in (("left", left), ("right", right)):
            if isinstance(joint, bool) or not isinstance(joint, (int, np.integer)) or not (
                0 <= joint < joints
            ):
                raise AimCLRError(
                    f"{name} = {joint!r} is not a shoulder joint index of {where}: expected "
                    f"[0, {joints})"
                )
        return center_joint, left, right

    def to_array(
        self,
        num_frames: int = 50,
        num_persons: int = 2,
        center_joint: int | Literal["layout"] | None = "layout",
        align: bool = True,
        left: int | None = None,
        right: int | None = None,
    ) -> np.ndarray:
        """Preprocess every sequence to a fixed-size ``float32`` array (spec §1.2).

        Per sequence, as the reference: centre on ``center_joint`` per frame and
        person, resample all ``T_i`` frames to ``num_frames``
        (:func:`~aimclr.data.preprocess.resize_sequence`), then optionally
        :func:`~aimclr.data.preprocess.align_yaw`. Persons are zero-padded to
        ``num_persons``. The joints come from :attr:`layout` unless given: on
        ``ntu-rgb+d`` the centre is 20 (spine-shoulder) and the shoulders 4 and 8
        (the reference's indices); on ``kinect-v1`` the centre is 2 (shoulder
        centre) and the shoulders 4 and 8.

        Per-frame yaw alignment removes body turning during an action (e.g. a
        "walk-turn-left" becomes a straight walk in the body frame); pass
        ``align=False`` where turning is part of the label.

        Args:
            num_frames: output ``T`` (reference 50).
            num_persons: output ``M`` (reference 2).
            center_joint: joint subtracted per frame; ``"layout"`` takes the
                layout's centre joint, ``None`` keeps world coordinates.
            align: apply per-frame yaw alignment (the reference does).
            left: left shoulder index for the alignment; ``None``: the layout's.
            right: right shoulder index for the alignment; ``None``: the layout's.

        Returns:
            ``(N, C, num_frames, V, num_persons)`` ``float32``.

        Raises:
            AimCLRError: a sequence with no frame or with NaN / infinite values,
                more persons than ``num_persons``, a joint index out of range, or
                a joint left to a layout that is unknown (or has no shoulders).

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
                f"sequences {empty.tolist()[:10]}{' ...' if empty.size > 10 else ''} have no "
                f"frames ({empty.size} in all; offsets[i] == offsets[i + 1]); "
                f"leave them out with select() before resizing"
            )
        persons = 1 if self.data.ndim == 3 else self.data.shape[1]
        if persons > num_persons:
            raise AimCLRError(
                f"data holds M = {persons} persons (layout (F, M, V, C)), more than "
                f"num_persons = {num_persons}: pass num_persons={persons} (--persons "
                f"{persons} on the command line), or select the persons to keep first"
            )
        nonfinite = self.nonfinite_frames()
        if nonfinite.any():
            raise AimCLRError(
                f"{_nonfinite_report(nonfinite, self.lengths, self.sequence_names)}; remove "
                "them (select) or load the file with load_npz(path, nonfinite='drop')"
            )
        center, left_joint, right_joint = self._joint_indices(center_joint, align, left, right)
        channels, joints = self.data.shape[-1], self.data.shape[-2]
        out = np.zeros((len(self), channels, num_frames, joints, num_persons), dtype=np.float32)
        for i in range(len(self)):
            x = sequence_to_ctvm(self.sequence(i), num_persons=persons)  # (C, T_i, V, M)
            if center is not None:
                x = center_on_joint(x, center)
            x = resize_sequence(x, num_frames, axis=1)
            if align:
                x = align_yaw(x, left=left_joint, right=right_joint)
            out[i, ..., :persons] = x
        return out

    def to_dataset(
        self,
        num_frames: int = 50,
        num_persons: int = 2,
        center_joint: int | Literal["layout"] | None = "layout",
        align: bool = True,
        left: int | None = None,
        right: int | None = None,
    ) -> SkeletonTensorDataset:
        """:meth:`to_array` wrapped as a dataset of ``(x (C, T, V, M), label)``."""
        x = self.to_array(num_frames, num_persons, center_joint, align, left, right)
        return SkeletonTensorDataset(x, self.labels)


def _names(content: dict[str, np.ndarray], key: str, path: Path) -> tuple[str, ...]:
    if key not in content:
        return ()
    arr = content[key]
    if arr.ndim != 1 or arr.dtype.kind not in "US":
        raise AimCLRError(
            f"key {key!r} of {str(path)!r} must be a 1-D array of strings, got "
            f"{describe_array(arr)}"
        )
    return tuple(str(v) for v in arr.tolist())


def load_npz(
    path: str | os.PathLike[str],
    layout: str | SkeletonLayout | None = None,
    nonfinite: NonFinitePolicy = "error",
) -> RaggedSkeletons:
    """Load a ``.npz`` file in the ``shared/data`` format.

    Required keys: ``data`` ``(F, V, 3)`` (or ``(F, M, V, 3)``), ``offsets``
    ``(N + 1,)``, ``labels`` ``(N,)``; read if present: ``class_names``,
    ``layout``, ``joint_names``, ``styles``, ``style_names``, ``subjects``,
    ``sequence_names``, and any further ``(N,)`` integer array (e.g. ``views``)
    as a key of :attr:`RaggedSkeletons.groups`. The file is read without pickle:
    an object array is refused. ``data`` keeps its stored dtype (float16 in
    ``bandai2.npz``); :meth:`RaggedSkeletons.sequence` and
    :meth:`RaggedSkeletons.to_array` return ``float32``.

    The skeleton layout is, in this order: ``layout`` when given (a built-in
    name or your own :class:`~aimclr.graph.SkeletonLayout`); the built-in layout
    the file's ``layout`` string names (matched ignoring case, ``-``, ``_``); the
    built-in layout whose joint names equal the file's ``joint_names`` in order
    (with an :class:`~aimclr.errors.AimCLRWarning` when the file's string was
    unknown or absent); ``ntu-rgb+d`` for a file with 25 joints and neither
    string nor names (warned). A layout whose joint names differ from the file's
    ``joint_names`` is warned about; a joint count that differs is an error.

    Args:
        path: the ``.npz`` file.
        layout: the file's layout, to override or supply the ``layout`` string
            (needed for a skeleton that is not built in).
        nonfinite: what to do with sequences holding NaN or infinite coordinates:
            ``"error"`` (default) refuses the file and lists them; ``"drop"``
            leaves those sequences out and warns with their count. Zero-filling is
            not offered: zero frames would be interpolated into their neighbours
            and read as real poses.

    Returns:
        The sequences, with their layout.

    Raises:
        AimCLRError: missing file or keys, damaged archive, object arrays,
            inconsistent arrays, non-finite coordinates (by default), a layout
            string that is not built in (with no matching joint names), or a
            layout whose joint count is not the file's ``V``.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> np.savez(f"{folder}/v1.npz", data=np.zeros((6, 20, 3), np.float32),
        ...          offsets=np.array([0, 2, 6]), labels=np.array([0, 1]),
        ...          layout=np.array("kinect-v1"))
        >>> skeletons = load_npz(f"{folder}/v1.npz")
        >>> skeletons.layout.name, skeletons.layout.center
        ('kinect-v1', 2)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise AimCLRError(f"path must be a str or path of an .npz file, got {path!r:.80}")
    path = Path(path)
    if not path.is_file():
        raise AimCLRError(f"npz file {str(path)!r} does not exist")
    if nonfinite not in ("error", "drop"):
        raise AimCLRError(f"nonfinite must be 'error' or 'drop', got {nonfinite!r}")
    content = open_npz(path, "npz file")
    source = repr(str(path))
    missing = [key for key in ("data", "offsets", "labels") if key not in content]
    if missing:
        raise AimCLRError(
            f"{source} lacks the keys {missing}; expected data (F, V, 3), "
            f"offsets (N + 1,), labels (N,) (found {sorted(content)})"
        )
    declared = None
    if "layout" in content:
        raw = content["layout"]
        if raw.size != 1 or raw.dtype.kind not in "US":
            raise AimCLRError(
                f"key 'layout' of {source} must be a string such as 'ntu-rgb+d', got "
                f"{describe_array(raw)}"
            )
        declared = str(raw.reshape(()))
    names = _names(content, "joint_names", path)
    class_names = _names(content, "class_names", path)
    style_names = _names(content, "style_names", path)
    sequence_names = _names(content, "sequence_names", path)
    data, labels = content["data"], content["labels"]
    count = len(labels) if labels.ndim == 1 else None
    groups = {
        key: value for key, value in content.items()
        if key not in _FORMAT_KEYS and value.ndim == 1 and len(value) == count
        and np.issubdtype(value.dtype, np.integer)
    }  # fmt: skip
    try:
        chosen = (
            resolve_layout(declared, layout, names, data.shape[-2], source)
            if data.ndim in (3, 4) else None
        )
        if chosen is not None and len(names) == chosen.num_joints:
            warn_if_names_differ(chosen, names, source)
        skeletons = RaggedSkeletons(
            data=data,
            offsets=content["offsets"],
            labels=labels,
            class_names=class_names,
            styles=content.get("styles"),
            style_names=style_names,
            subjects=content.get("subjects"),
            layout=chosen,
            joint_names=names,
            sequence_names=sequence_names,
            groups=groups,
        )
    except AimCLRError as err:
        message = str(err)
        raise AimCLRError(message if source in message else f"{source}: {message}") from None
    counts = skeletons.nonfinite_frames()
    if counts.any():
        report = _nonfinite_report(counts, skeletons.lengths, skeletons.sequence_names)
        if nonfinite == "error":
            raise AimCLRError(
                f"{source}: {report}. Repair the file, or load it with nonfinite='drop' to "
                "leave these sequences out"
            )
        warnings.warn(
            f"{source}: {report}; these {int((counts > 0).sum())} sequences are left out "
            f"(nonfinite='drop'), {int((counts == 0).sum())} remain",
            AimCLRWarning,
            stacklevel=2,
        )
        skeletons = skeletons.select(np.flatnonzero(counts == 0))
    _warn_if_not_metres(skeletons.data, source)
    return skeletons


# A body is about 0.5-2.5 m across; the views' noise (std 0.01) assumes metres.
_LARGEST_BODY_METRES = 5.0


def _warn_if_not_metres(data: np.ndarray, source: str) -> None:
    """Warn when the typical pose is far larger than a body in metres."""
    if not data.size:
        return
    frames = data[:: max(1, data.shape[0] // 1000)].astype(np.float32)  # (F', [M,] V, C)
    frames = frames.reshape(frames.shape[0], -1, *frames.shape[-2:])  # (F', M, V, C)
    extent = (frames.max(axis=2) - frames.min(axis=2)).max(axis=2)  # (F', M) widest axis
    extent = extent[np.isfinite(extent) & (extent > 0)]  # absent (all-zero) persons out
    size = float(np.median(extent)) if extent.size else 0.0
    if size > _LARGEST_BODY_METRES:
        warnings.warn(
            f"{source}: the median pose spans {size:.4g} units, but the format stores metres "
            f"(a body spans about 0.5-2.5 m): centimetres or millimetres? Divide data by 100 "
            f"or 1000; the views' Gaussian noise (std 0.01) assumes metres",
            AimCLRWarning,
            stacklevel=3,
        )
