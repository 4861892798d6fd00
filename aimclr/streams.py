"""Bone and motion streams derived from joint positions.

AimCLR trains one model per stream (joint, bone, motion) and fuses their scores.
Both functions accept a batch ``(N, C, T, V, M)`` or one sample ``(C, T, V, M)``
and keep the input's device and dtype.
"""

from __future__ import annotations

import torch

from aimclr._checks import check_floating, check_rank, check_tensor, describe
from aimclr.errors import AimCLRError
from aimclr.graph import SkeletonLayout, get_layout

__all__ = ["to_bone", "to_motion", "to_stream"]

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
            f"{layout.num_joints} joints of layout {layout.name!r}, got {describe(x)}"
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
