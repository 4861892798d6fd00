"""Bone and motion streams derived from joint positions.

AimCLR trains one model per stream (joint, bone, motion) and fuses their scores.
The tensor functions accept a batch ``(N, C, T, V, M)`` or one sample
``(C, T, V, M)`` and keep the input's device and dtype; :func:`stream_dataset`
converts a whole data set.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch.utils.data import DataLoader, Dataset

from aimclr._checks import (
    check_floating,
    check_labelled_sample,
    check_rank,
    check_tensor,
    describe,
)
from aimclr.data.arrays import SkeletonTensorDataset
from aimclr.errors import AimCLRError
from aimclr.graph import LAYOUTS, SkeletonLayout, get_layout

__all__ = ["STREAMS", "Stream", "stream_dataset", "to_bone", "to_motion", "to_stream"]

Stream = Literal["joint", "bone", "motion"]
"""The name of a stream."""

STREAMS: tuple[Stream, ...] = ("joint", "bone", "motion")
"""The streams of the paper's 3s-AimCLR, in the order of its tables."""

_LAYOUTS = ("(N, C, T, V, M)", "(C, T, V, M)")


def to_bone(x: torch.Tensor, layout: str | SkeletonLayout = "ntu-rgb+d") -> torch.Tensor:
    """Bone vectors: each joint minus its parent in ``layout.bone_pairs``.

    For the NTU layout this is the reference bone list, so the centre joint 21
    (index 20) is its own parent and its bone is zero.

    Args:
        x: joint positions ``(N, C, T, V, M)`` or ``(C, T, V, M)``.
        layout: the skeleton ``x`` is stored in; ``V`` must equal its joint count.

    Returns:
        Tensor of the same shape, ``out[..., v, :] = x[..., v, :] - x[..., parent(v), :]``.

    Raises:
        AimCLRError: wrong rank, non-floating dtype, or ``V`` differs from the layout.

    Example:
        >>> x = torch.zeros(3, 50, 25, 2)
        >>> x[0, :, 0] = 1.0  # move the spine base along x
        >>> bone = to_bone(x)
        >>> float(bone[0, 0, 0, 0]), float(bone[0, 0, 20, 0])
        (1.0, 0.0)
    """
    layout = get_layout(layout)
    _check_stream_input(x)
    if x.shape[-2] != layout.num_joints:
        raise AimCLRError(
            f"x must have layout (N, C, T, V, M) or (C, T, V, M) with V = "
            f"{layout.num_joints} joints of layout {layout.name!r}, got {describe(x)}; "
            f"pass layout= the skeleton of x (built in: {sorted(LAYOUTS)}, or a "
            f"SkeletonLayout)"
        )
    parents = torch.tensor(layout.parent_index(), device=x.device)
    return x - x.index_select(-2, parents)


def to_motion(x: torch.Tensor) -> torch.Tensor:
    """Motion: the forward frame difference, with the last frame set to zero.

    Args:
        x: joint positions ``(N, C, T, V, M)`` or ``(C, T, V, M)``.

    Returns:
        Tensor of the same shape, ``out[..., t, :, :] = x[..., t + 1, :, :] -
        x[..., t, :, :]`` for ``t < T - 1`` and zero at ``t = T - 1``.

    Raises:
        AimCLRError: wrong rank or non-floating dtype.

    Example:
        >>> x = torch.arange(4.0).reshape(1, 4, 1, 1)  # (C, T, V, M), T = 4
        >>> to_motion(x).flatten().tolist()
        [1.0, 1.0, 1.0, 0.0]
    """
    _check_stream_input(x)
    motion = torch.zeros_like(x)
    motion[..., :-1, :, :] = x[..., 1:, :, :] - x[..., :-1, :, :]
    return motion


def to_stream(
    x: torch.Tensor, stream: str, layout: str | SkeletonLayout = "ntu-rgb+d"
) -> torch.Tensor:
    """Return the ``"joint"``, ``"bone"`` or ``"motion"`` stream of ``x``.

    Args:
        x: joint positions ``(N, C, T, V, M)`` or ``(C, T, V, M)``.
        stream: ``"joint"`` (``x`` itself), ``"bone"`` or ``"motion"``.
        layout: the skeleton, used by the bone stream.

    Returns:
        Tensor of the shape, device and dtype of ``x``: ``(N, C, T, V, M)`` or
        ``(C, T, V, M)``. For ``"joint"`` this is ``x`` itself, not a copy.

    Raises:
        AimCLRError: unknown stream name, or bad ``x`` (see :func:`to_bone`).
    """
    if stream == "joint":
        _check_stream_input(x)
        return x
    if stream == "bone":
        return to_bone(x, layout)
    if stream == "motion":
        return to_motion(x)
    raise AimCLRError(f"unknown stream {stream!r}; expected 'joint', 'bone' or 'motion'")


def _check_stream_input(x: torch.Tensor) -> None:
    check_tensor(x, "x")
    check_rank(x, "x", _LAYOUTS)
    check_floating(x, "x")


def stream_dataset(
    dataset: Dataset[Any],
    stream: str,
    layout: str | SkeletonLayout = "ntu-rgb+d",
    batch_size: int = 512,
) -> Dataset[Any]:
    """``dataset`` with every sample converted to ``stream``, for evaluation protocols.

    The joint stream returns ``dataset`` itself. Bone and motion read the data set
    once in batches and hold the converted samples in memory as a
    :class:`~aimclr.data.arrays.SkeletonTensorDataset` (a memory-mapped NTU
    array becomes an in-memory float32 copy of the same size). To convert batches
    on the fly during pre-training, apply :func:`to_stream` to the augmented
    views instead (:class:`~aimclr.training.views.PretrainViews` does).

    Args:
        dataset: samples ``(x (C, T, V, M), label)``; ``x`` is cast to float32.
        stream: ``"joint"``, ``"bone"`` or ``"motion"``.
        layout: the skeleton of the samples, used by the bone stream.
        batch_size: samples converted at a time.

    Returns:
        A data set of ``(stream of x (C, T, V, M), label)`` in the order of
        ``dataset``, labels as a 1-D integer tensor.

    Raises:
        AimCLRError: an unknown stream, an empty data set, samples that are not
            ``(x, label, ...)``, or samples :func:`to_stream` rejects.

    Example:
        >>> from aimclr.data import SyntheticActionDataset
        >>> bones = stream_dataset(SyntheticActionDataset(4, num_frames=8), "bone")
        >>> x, label = bones[0]
        >>> tuple(x.shape), float(x[:, :, 20].abs().max())  # the centre joint's bone is 0
        ((3, 8, 25, 1), 0.0)
    """
    if stream not in STREAMS:
        raise AimCLRError(f"unknown stream {stream!r}; expected 'joint', 'bone' or 'motion'")
    if stream == "joint":
        return dataset
    loader = DataLoader(dataset, batch_size=batch_size)
    if len(loader) == 0:
        raise AimCLRError("dataset is empty; at least one sample is needed")
    check_labelled_sample(dataset[0], "dataset")
    # further items of a sample (e.g. its index) are not kept
    xs, ys = zip(*((to_stream(batch[0].float(), stream, layout), batch[1]) for batch in loader),
                 strict=True)  # fmt: skip
    return SkeletonTensorDataset(torch.cat(xs), torch.cat(ys))
