"""Datasets over fixed-size skeleton arrays ``(N, C, T, V, M)``.

:class:`SkeletonNpyDataset` reads the preprocessed NTU RGB+D / PKU-MMD files that
the field shares: ``{train,val}_position.npy`` (or the 300-frame ``*_data.npy``),
opened memory-mapped, with the label pickle ``(sample_names, labels)``.
:class:`SkeletonTensorDataset` holds arrays already in memory (synthetic data,
ragged sequences after preprocessing). Both return ``(x, label)`` with ``x`` a
``float32`` tensor ``(C, T, V, M)`` and ``label`` an ``int``.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Callable, Sequence, Sized
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from aimclr.data._validate import describe_array, load_npy
from aimclr.errors import AimCLRError

__all__ = ["SkeletonNpyDataset", "SkeletonTensorDataset", "load_label_file"]

_LAYOUT = "(N, C, T, V, M)"
Transform = Callable[[torch.Tensor], Any]


class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickler that builds only plain containers, str and numbers.

    The label files are pickles; refusing every class except numpy scalars and
    arrays (which label lists sometimes contain) means a crafted file cannot run
    code. Only the listed numpy reconstructors are resolved.
    """

    _ALLOWED = frozenset(
        {
            ("numpy", "dtype"),
            ("numpy", "ndarray"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy._core.multiarray", "_reconstruct"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"label file may hold only lists of str and int, found a {module}.{name} object"
        )


def load_label_file(path: str | os.PathLike[str]) -> tuple[list[str], list[int]]:
    """Read a reference label file: a pickle of ``(sample_names, labels)``.

    Only plain data is unpickled (lists, tuples, str, int, numpy integers); any
    other object in the file is refused, so an untrusted file cannot run code.
    A ``.npy`` file of integer labels is accepted too (sample names are then
    ``"0", "1", ...``).

    Args:
        path: the ``*_label.pkl`` (or ``.npy``) file.

    Returns:
        ``(sample_names, labels)``: two lists of equal length, labels as ``int``.

    Raises:
        AimCLRError: missing file, unreadable content, not two lists of equal
            length, or labels that are not non-negative integers.
    """
    path = Path(path)
    if not path.is_file():
        raise AimCLRError(f"label file {str(path)!r} does not exist")
    expected = "a pickle of (sample_names: list[str], labels: list[int]) of equal length"
    if path.suffix == ".npy":
        raw: Any = load_npy(path, "label file", "a 1-D integer array (N,) of labels")
        names: list[Any] = [str(i) for i in range(len(raw))] if raw.ndim == 1 else []
    else:
        try:
            content = _PlainDataUnpickler(io.BytesIO(path.read_bytes())).load()
        except Exception as err:  # any unpickling failure means a malformed file
            raise AimCLRError(
                f"cannot read label file {str(path)!r} (expected {expected}): {err}"
            ) from err
        if not isinstance(content, (tuple, list)) or len(content) != 2:
            raise AimCLRError(
                f"label file {str(path)!r} must hold {expected}, got {type(content).__name__}"
                + (f" of length {len(content)}" if isinstance(content, (tuple, list)) else "")
            )
        if not isinstance(content[0], (list, tuple, np.ndarray)):
            raise AimCLRError(
                f"label file {str(path)!r} must hold {expected}; its sample names are a "
                f"{type(content[0]).__name__}"
            )
        names, raw = list(content[0]), content[1]
    try:
        labels_arr = np.asarray(raw)
    except (TypeError, ValueError) as err:  # e.g. ragged nested lists
        raise AimCLRError(
            f"labels in {str(path)!r} must be a 1-D list of integers; they cannot form an "
            f"array: {err}"
        ) from err
    if labels_arr.ndim != 1 or not (
        labels_arr.size == 0 or np.issubdtype(labels_arr.dtype, np.integer)
    ):
        raise AimCLRError(
            f"labels in {str(path)!r} must be a 1-D list of integers, got "
            f"{describe_array(labels_arr)}"
        )
    if len(names) != len(labels_arr):
        raise AimCLRError(
            f"label file {str(path)!r} must hold {expected}; got {len(names)} sample names "
            f"and {len(labels_arr)} labels"
        )
    if labels_arr.size and labels_arr.min() < 0:
        raise AimCLRError(
            f"labels in {str(path)!r} must be 0-based class indices >= 0, got minimum "
            f"{int(labels_arr.min())}"
        )
    return [str(n) for n in names], [int(v) for v in labels_arr]


def _check_array(x: np.ndarray | torch.Tensor, source: str, num_joints: int | None) -> None:
    shape = tuple(x.shape)
    floating = (
        x.is_floating_point()
        if isinstance(x, torch.Tensor)
        else np.issubdtype(x.dtype, np.floating)
    )
    expected = f"{_LAYOUT}" + (f" with V = {num_joints}" if num_joints is not None else "")
    if len(shape) != 5 or not floating:
        raise AimCLRError(
            f"{source} must be a floating array with layout {expected}, "
            f"got shape {shape}, dtype {x.dtype}"
        )
    if num_joints is not None and shape[3] != num_joints:
        raise AimCLRError(f"{source} must have layout {expected}, got shape {shape}")


def _check_labels(labels: Sized, count: int, source: str) -> None:
    if len(labels) != count:
        raise AimCLRError(
            f"{source}: {count} samples in the data (axis N of {_LAYOUT}) but "
            f"{len(labels)} labels"
        )


class SkeletonNpyDataset(Dataset[tuple[Any, int]]):
    """The preprocessed NTU RGB+D / PKU-MMD arrays, memory-mapped.

    Files are validated at construction, so a wrong path or layout fails before
    training starts. Each item copies one sample out of the memory map.

    Args:
        data_path: ``.npy`` array ``(N, C, T, V, M)`` of floats, e.g.
            ``train_position.npy`` ``(N, 3, 50, 25, 2)`` or ``train_data.npy``
            ``(N, 3, 300, 25, 2)``.
        label_path: the label pickle ``(sample_names, labels)`` (see
            :func:`load_label_file`).
        mmap: open the array memory-mapped (``mmap_mode='r'``); ``False`` loads it.
        num_joints: required ``V``; ``None`` accepts any.
        transform: optional callable applied to each ``(C, T, V, M)`` tensor
            (e.g. augmentations producing several views).

    Attributes:
        data: the (memory-mapped) array ``(N, C, T, V, M)``.
        sample_names: one name per sample.
        labels: 0-based class index per sample.

    Raises:
        AimCLRError: missing or unreadable files, a layout other than
            ``(N, C, T, V, M)``, a non-floating array, ``V != num_joints``, or a
            label count that differs from ``N``.
    """

    def __init__(
        self,
        data_path: str | os.PathLike[str],
        label_path: str | os.PathLike[str],
        mmap: bool = True,
        num_joints: int | None = 25,
        transform: Transform | None = None,
    ) -> None:
        path = Path(data_path)
        if not path.is_file():
            raise AimCLRError(
                f"data file {str(path)!r} does not exist (expected a .npy array with layout "
                f"{_LAYOUT})"
            )
        data = load_npy(path, "data file", f"a float array with layout {_LAYOUT}", mmap)
        _check_array(data, f"data file {str(path)!r}", num_joints)
        names, labels = load_label_file(label_path)
        _check_labels(labels, data.shape[0], f"{str(path)!r} and {str(label_path)!r}")
        self.data = data
        self.sample_names = names
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        x = torch.from_numpy(np.array(self.data[index], dtype=np.float32))
        return (self.transform(x) if self.transform is not None else x), self.labels[index]


class SkeletonTensorDataset(Dataset[tuple[Any, int]]):
    """In-memory skeleton arrays with labels.

    Args:
        data: ``(N, C, T, V, M)`` floating array or tensor; stored as ``float32``.
        labels: ``N`` non-negative class indices.
        transform: optional callable applied to each ``(C, T, V, M)`` tensor.

    Attributes:
        data: ``float32`` tensor ``(N, C, T, V, M)``.
        labels: ``int64`` tensor ``(N,)``.

    Raises:
        AimCLRError: wrong layout, non-floating data, label count other than ``N``,
            or negative labels.

    Example:
        >>> ds = SkeletonTensorDataset(torch.zeros(4, 3, 50, 25, 2), [0, 1, 0, 1])
        >>> x, y = ds[1]
        >>> tuple(x.shape), y
        ((3, 50, 25, 2), 1)
    """

    def __init__(
        self,
        data: np.ndarray | torch.Tensor,
        labels: Sequence[int] | np.ndarray | torch.Tensor,
        transform: Transform | None = None,
    ) -> None:
        _check_array(data, "data", None)
        label_tensor = (labels.detach().cpu() if isinstance(labels, torch.Tensor)
                        else torch.as_tensor(np.asarray(labels)))  # fmt: skip
        if label_tensor.dim() != 1:  # a (2, 2) matrix must not pass for N = 4 labels
            raise AimCLRError(
                f"labels must have layout (N,), got shape {tuple(label_tensor.shape)}"
            )
        if label_tensor.numel() and (
            label_tensor.is_floating_point() or label_tensor.is_complex()
        ):
            raise AimCLRError(f"labels must be integers, got dtype {label_tensor.dtype}")
        label_tensor = label_tensor.long()
        _check_labels(label_tensor, data.shape[0], "SkeletonTensorDataset")
        if label_tensor.numel() and int(label_tensor.min()) < 0:
            raise AimCLRError(f"labels must be >= 0, got minimum {int(label_tensor.min())}")
        self.data = torch.as_tensor(data, dtype=torch.float32)
        self.labels = label_tensor
        self.transform = transform

    def __len__(self) -> int:
        return int(self.labels.numel())

    def __getitem__(self, index: int) -> tuple[Any, int]:
        x = self.data[index]
        return (self.transform(x) if self.transform is not None else x), int(self.labels[index])
