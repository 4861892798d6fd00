"""Fusing a chain of transforms into few passes over the data.

Every random transform describes its effect, for drawn parameters, as a list of
*steps*. :func:`build_plan` folds a list of steps into one :class:`Plan`, and
:func:`execute` runs it as at most: one row gather (all frame re-indexing), one
joint re-index of the samples that flip, one batched ``3 × 3`` matrix product (all
coordinate maps), one noise addition and one blur of the samples that get them.

Why folding is exact (``G`` = re-indexing of frames/joints, ``A`` = per-sample
coordinate matrix, ``B`` = temporal blur, ``n`` = noise):

* ``G`` acts on the T/V axes and ``A`` on C, so ``A·G(x) = G(A·x)``; two
  re-indexings compose into one, two matrices multiply.
* ``B`` filters every channel, joint and person with the same kernel, so it
  commutes with any ``A`` and any joint re-index. Its kernel is symmetric and its
  zero padding is the same at both ends, so it commutes with a time reversal —
  but not with a crop (the borders differ), which is therefore not fused after it.
* ``n`` is a fixed tensor: ops after the noise are also applied to ``n``
  (``A·(y + n) = A·y + A·n``), which is cheap because only noisy samples carry one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from aimclr.transforms._base import compute_dtype
from aimclr.transforms.functional import blur_frames


@dataclass(frozen=True)
class TimeMap:
    """Output frame ``t`` of sample ``n`` is input frame ``index[n, t]``.

    Attributes:
        index: ``(N, T)`` int64.
        symmetric: every row is the identity or a reversal (so it commutes with blur).
    """

    index: torch.Tensor
    symmetric: bool


@dataclass(frozen=True)
class JointMap:
    """Output joint ``v`` of sample ``n`` is input joint ``index[n, v]``; ``index (N, V)``."""

    index: torch.Tensor


@dataclass(frozen=True)
class ChannelMap:
    """New coordinates = ``matrix[n]`` · old; ``matrix (N, C, C)``; ``diagonal`` if known."""

    matrix: torch.Tensor
    diagonal: bool = False


@dataclass(frozen=True)
class AddNoise:
    """Add ``noise (K, C, T, V, M)`` to the samples ``index (K,)``."""

    index: torch.Tensor
    noise: torch.Tensor


@dataclass(frozen=True)
class Blur:
    """Blur the samples ``index (K,)`` along time with ``kernel (K, L)`` (zero padding)."""

    index: torch.Tensor
    kernel: torch.Tensor


Step = TimeMap | JointMap | ChannelMap | AddNoise | Blur


class NotFusable(Exception):
    """The steps cannot be folded into one plan; apply the transforms one by one."""


@dataclass
class Plan:
    """The folded effect of a list of steps (None = nothing of that kind)."""

    time_index: torch.Tensor | None = None
    joint_index: torch.Tensor | None = None
    matrix: torch.Tensor | None = None
    noise_index: torch.Tensor | None = None
    noise: torch.Tensor | None = None
    blur_index: torch.Tensor | None = None
    blur_kernel: torch.Tensor | None = None


def _expand_index(index: torch.Tensor, like: torch.Tensor, dim: int) -> torch.Tensor:
    shape = [1] * like.dim()
    shape[0], shape[dim] = index.shape
    return index.to(like.device).view(shape).expand_as(like)


def _then(old: torch.Tensor | None, index: torch.Tensor) -> torch.Tensor:
    """The ``(N, L)`` re-indexing ``old`` followed by ``index`` as one index."""
    return index if old is None else old.gather(1, index.to(old.device))


def _reindex_noise(
    noise: torch.Tensor, samples: torch.Tensor | None, index: torch.Tensor, dim: int
) -> torch.Tensor:
    """Re-index ``noise (K, C, T, V, M)`` of ``samples (K,)`` along ``dim`` by ``index (N, L)``."""
    rows = index.to(noise.device)[samples]
    return noise.gather(dim, _expand_index(rows, noise, dim))


def build_plan(steps: Sequence[Step]) -> Plan:
    """Fold ``steps`` (applied in order) into one :class:`Plan`.

    Raises:
        NotFusable: a crop after a blur, a second blur, or noise after noise/blur.
    """
    plan = Plan()
    for step in steps:
        noise = plan.noise
        if isinstance(step, TimeMap):
            if plan.blur_index is not None and not step.symmetric:
                raise NotFusable("a crop after a blur does not commute with it")
            plan.time_index = _then(plan.time_index, step.index)
            if noise is not None:
                plan.noise = _reindex_noise(noise, plan.noise_index, step.index, dim=2)
        elif isinstance(step, JointMap):
            plan.joint_index = _then(plan.joint_index, step.index)
            if noise is not None:
                plan.noise = _reindex_noise(noise, plan.noise_index, step.index, dim=3)
        elif isinstance(step, ChannelMap):
            old_m = plan.matrix
            plan.matrix = step.matrix if old_m is None else step.matrix @ old_m.to(step.matrix)
            if noise is not None:
                m = step.matrix.to(noise.device, noise.dtype)[plan.noise_index]
                if step.diagonal:
                    plan.noise = noise * m.diagonal(dim1=1, dim2=2)[:, :, None, None, None]
                else:
                    plan.noise = torch.einsum("kij,kjtvm->kitvm", m, noise)
        elif isinstance(step, AddNoise):
            if noise is not None or plan.blur_index is not None:
                raise NotFusable("noise is fused once and only before a blur")
            plan.noise_index = step.index.to(step.noise.device)
            plan.noise = step.noise
        else:
            if plan.blur_index is not None:
                raise NotFusable("only one blur is fused")
            plan.blur_index, plan.blur_kernel = step.index, step.kernel
    return plan


def _moved_joint_groups(index: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Group the samples whose joint index is not the identity by permutation."""
    identity = torch.arange(index.shape[1], device=index.device)
    moved = (index != identity).any(1)
    if not bool(moved.any()):
        return []
    samples = moved.nonzero().squeeze(1)
    rows = index[samples]
    if bool((rows == rows[0]).all()):  # the usual case (one flip permutation): skip unique
        return [(samples, rows[0])]
    perms, inverse = torch.unique(rows, dim=0, return_inverse=True)
    return [(samples[inverse == g], perms[g]) for g in range(perms.shape[0])]


def _gather_frames(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Frames of ``x (N, C, T, V, M)`` re-indexed by ``index (N, T')``, as one row gather.

    Row ``(n, c, t)`` of the result is row ``(n, c, index[n, t])`` of ``x``; the rows
    (``V·M`` contiguous values) are copied whole.
    """
    n, c, t, v, m = x.shape
    index = index.to(x.device)
    base = torch.arange(0, n * c * t, t, device=x.device).view(n, c, 1)
    rows = (base + index.unsqueeze(1)).view(-1)
    flat = x.reshape(n * c * t, v * m)
    return flat.index_select(0, rows).view(n, c, index.shape[1], v, m)


def _permute_joints(y: torch.Tensor, index: torch.Tensor) -> None:
    """Re-index the joints of ``y (N, C, T, V, M)`` in place by ``index (N, V)``."""
    n, _, _, v, m = y.shape
    device = y.device
    for samples, perm in _moved_joint_groups(index):
        # Permute the (V·M) row of every (sample, channel, frame) with one 2-D gather;
        # index_select on the joint axis is several times slower (inner size M is tiny).
        samples = samples.to(device)
        cols = (perm.to(device).unsqueeze(1) * m + torch.arange(m, device=device)).view(-1)
        flat = y.view(n, -1)
        sub = flat.index_select(0, samples).view(-1, v * m)
        moved = sub.gather(1, cols.expand(sub.shape[0], v * m))
        flat.index_copy_(0, samples, moved.view(samples.shape[0], -1))


def _blur_samples(y: torch.Tensor, samples: torch.Tensor, kernel: torch.Tensor) -> None:
    """Blur the samples ``samples (K,)`` of ``y (N, C, T, V, M)`` in place."""
    samples = samples.to(y.device)
    blurred = blur_frames(y.index_select(0, samples), kernel.to(y.device, y.dtype))
    y.index_copy_(0, samples, blurred)


def execute(x: torch.Tensor, plan: Plan, out: torch.Tensor | None = None) -> torch.Tensor:
    """Run ``plan`` on a batch ``x (N, C, T, V, M)``.

    Args:
        x: the batch; never modified.
        plan: from :func:`build_plan`.
        out: optional contiguous tensor of the shape, dtype and device of the result
            to write into (saves an allocation and a copy).

    Returns:
        ``out``, or a new tensor like ``x`` (with ``T'`` frames when re-indexed).
    """
    dtype = compute_dtype(x.dtype)
    y, owned = x, False
    if plan.time_index is not None:
        y, owned = _gather_frames(x, plan.time_index), True
    if y.dtype != dtype:
        y, owned = y.to(dtype), True
    n, c, t, v, m = y.shape
    # The last full pass writes straight into ``out`` when the dtypes agree.
    target = out if out is not None and out.dtype == dtype else None
    if plan.matrix is not None:
        matrix = plan.matrix.to(x.device, dtype)
        into = None if target is None else target.view(n, c, t * v * m)
        y, owned = torch.bmm(matrix, y.reshape(n, c, t * v * m), out=into).view(n, c, t, v, m), True
    elif target is not None:
        y, owned = target.copy_(y), True
    if not owned:
        y = y.clone()
    if plan.joint_index is not None:
        _permute_joints(y, plan.joint_index)
    if plan.noise is not None and plan.noise_index is not None and plan.noise.shape[0] > 0:
        y.index_add_(0, plan.noise_index.to(x.device), plan.noise.to(x.device, dtype))
    if plan.blur_index is not None and plan.blur_kernel is not None and plan.blur_index.numel():
        _blur_samples(y, plan.blur_index, plan.blur_kernel)
    if out is None:
        return y.to(x.dtype)
    return out if target is not None else out.copy_(y)


def mask_steps(steps: Sequence[Step], mask: torch.Tensor) -> list[Step]:
    """The steps restricted to the samples where ``mask (N,)`` is True (others unchanged)."""
    out: list[Step] = []
    for step in steps:
        if isinstance(step, (TimeMap, JointMap)):
            m = mask.to(step.index.device).unsqueeze(1)
            identity = torch.arange(step.index.shape[1], device=step.index.device)
            out.append(replace(step, index=torch.where(m, step.index, identity)))
        elif isinstance(step, ChannelMap):
            eye = torch.eye(step.matrix.shape[1], dtype=step.matrix.dtype,
                            device=step.matrix.device)
            keep = mask.to(step.matrix.device)[:, None, None]
            out.append(replace(step, matrix=torch.where(keep, step.matrix, eye)))
        elif isinstance(step, AddNoise):
            keep = mask.to(step.index.device)[step.index]
            out.append(AddNoise(step.index[keep], step.noise[keep.to(step.noise.device)]))
        else:
            keep = mask.to(step.index.device)[step.index]
            out.append(Blur(step.index[keep], step.kernel[keep.to(step.kernel.device)]))
    return out
