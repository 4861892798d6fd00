"""Fusing a chain of transforms into few passes over the data.

Every random transform describes its effect, for drawn parameters, as a list of
*steps*. :func:`build_plan` folds a list of steps into one :class:`Plan`, and
:func:`execute` runs it as at most: one batched ``3 × 3`` matrix product (all
coordinate maps), one gather (all frame and joint re-indexing), one noise addition
and one blur of the samples that get them. :func:`execute_many` runs several plans
on the same batch (the views of AimCLR) with one matrix product for all of them.

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
from functools import lru_cache

import torch

from aimclr._autocast import no_autocast
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


# Integer types as wide as one joint's M values, to move a joint as one element.
_PACKED = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _permute_joints(
    y: torch.Tensor, groups: list[tuple[torch.Tensor, torch.Tensor]]
) -> None:
    """Re-index the joints of ``y (N, C, T, V, M)`` in place, group by group.

    ``groups`` are ``(samples (S,), permutation (V,))`` pairs from
    :func:`_moved_joint_groups`.
    """
    n, _, _, v, m = y.shape
    device = y.device
    packed = _PACKED.get(m * y.element_size())
    for samples, perm in groups:
        samples, perm = samples.to(device), perm.to(device)
        flat = y.view(n, -1)
        sub = flat.index_select(0, samples)
        if packed is not None:
            # A joint's M values move as one integer: a gather of V elements per row.
            words = sub.view(packed).view(-1, v)
            moved = words.gather(1, perm.expand(words.shape[0], v)).view(y.dtype)
        else:
            # Otherwise permute the (V·M) row of every (sample, channel, frame) with one
            # 2-D gather; index_select on the joint axis is several times slower.
            cols = (perm.unsqueeze(1) * m + torch.arange(m, device=device)).view(-1)
            rows = sub.view(-1, v * m)
            moved = rows.gather(1, cols.expand(rows.shape[0], v * m))
        flat.index_copy_(0, samples, moved.view(samples.shape[0], -1))


def _blur_samples(y: torch.Tensor, samples: torch.Tensor, kernel: torch.Tensor) -> None:
    """Blur the samples ``samples (K,)`` of ``y (N, C, T, V, M)`` in place."""
    samples = samples.to(y.device)
    blurred = blur_frames(y.index_select(0, samples), kernel.to(y.device, y.dtype))
    y.index_copy_(0, samples, blurred)


def _coordinate_maps(x: torch.Tensor, plans: Sequence[Plan], dtype: torch.dtype) -> torch.Tensor:
    """Every plan's ``3 × 3`` map applied to ``x (N, C, T, V, M)``: ``(N, R, C, T, V, M)``.

    One batched product with the ``(N, R·C, C)`` stack of the R plans' matrices
    (identity where a plan has none) reads ``x`` once for all R results.
    """
    n, c, t, v, m = x.shape
    if any(p.matrix is None for p in plans):
        eye = torch.eye(c, dtype=dtype, device=x.device).expand(n, c, c)
    matrices = [eye if p.matrix is None else p.matrix.to(x.device, dtype) for p in plans]
    stacked = matrices[0] if len(matrices) == 1 else torch.cat(matrices, dim=1)
    source = x.to(dtype).reshape(n, c, t * v * m)
    return torch.bmm(stacked, source).view(n, len(plans), c, t, v, m)


@dataclass(frozen=True)
class _Source:
    """Where a plan's frames come from: ``rows (rows, V·M)``, one row per frame.

    Frame ``f`` of channel ``c`` of sample ``n`` is row
    ``start + n·per_sample + c·frames + f``.
    """

    rows: torch.Tensor
    start: int
    per_sample: int
    frames: int


def _kept_frames(plan: Plan, n: int, kept: int, device: torch.device) -> torch.Tensor:
    """The ``(N, T')`` source frames ``plan`` keeps (the identity without a time map)."""
    if plan.time_index is None:
        return torch.arange(kept, device=device).expand(n, kept)
    return plan.time_index.to(device)


@lru_cache(maxsize=64)
def _first_rows(
    n: int, c: int, start: int, per_sample: int, frames: int, device: torch.device
) -> torch.Tensor:
    """``(N, C, 1)`` row of frame 0 of each (sample, channel) of a :class:`_Source`."""
    return (torch.arange(n, device=device).view(n, 1, 1) * per_sample
            + torch.arange(c, device=device).view(1, c, 1) * frames + start)


def _gather_frames(source: _Source, plan: Plan, out: torch.Tensor) -> None:
    """Write the frames ``plan`` keeps into ``out (N, C, T', V, M)`` as one row gather."""
    n, c, kept = out.shape[:3]
    device = source.rows.device
    base = _first_rows(n, c, source.start, source.per_sample, source.frames, device)
    rows = (base + _kept_frames(plan, n, kept, device).unsqueeze(1)).view(-1)
    torch.index_select(source.rows, 0, rows, out=out.view(-1, source.rows.shape[1]))


def _gather_frames_and_joints(source: _Source, plan: Plan, out: torch.Tensor) -> bool:
    """As :func:`_gather_frames`, also re-indexing joints by the plan's ``joint_index``.

    One gather moves each joint's ``M`` values as a single integer, which beats a
    frame gather plus a joint permutation. Returns False (nothing done) without a
    joint index or when ``M`` values do not fill a 1, 2, 4 or 8 byte integer.
    """
    n, c, kept, v, m = out.shape
    packed = _PACKED.get(m * source.rows.element_size())
    joint_index = plan.joint_index
    if packed is None or joint_index is None:
        return False
    words = source.rows.view(packed)  # one word per joint
    device = words.device
    # (N, C, T·V) view of the source words: a channel's frames are contiguous rows.
    flat = words.as_strided((n, c, source.frames * v),
                            (source.per_sample * v, source.frames * v, 1), source.start * v)
    frames = _kept_frames(plan, n, kept, device)
    element = (frames.unsqueeze(2) * v + joint_index.to(device).unsqueeze(1)).view(n, 1, -1)
    torch.gather(flat, 2, element.expand(n, c, kept * v),
                 out=out.view(packed).view(n, c, kept * v))
    return True


def execute_many(
    x: torch.Tensor, plans: Sequence[Plan], out: torch.Tensor | None = None
) -> torch.Tensor:
    """Run R plans on the same batch ``x (N, C, T, V, M)`` (e.g. the views of a sample).

    All coordinate maps run as one batched ``3 × 3`` product that reads ``x`` once;
    each result is then gathered (frames and joints), given its noise and blurred
    while it is still in cache.

    Args:
        x: the batch; never modified.
        plans: from :func:`build_plan`; their time maps must keep the same number
            of frames ``T'``.
        out: optional contiguous ``(R, N, C, T', V, M)`` tensor of ``x``'s dtype and
            device to write into.

    Returns:
        ``out``, or a new ``(R, N, C, T', V, M)`` tensor like ``x``.
    """
    dtype = compute_dtype(x.dtype)
    n, c, t, v, m = x.shape
    r = len(plans)
    kept = {t if p.time_index is None else p.time_index.shape[1] for p in plans}
    if len(kept) != 1:
        raise ValueError(f"plans keep different numbers of frames: {sorted(kept)}")
    shape = (r, n, c, kept.pop(), v, m)
    direct = out is not None and out.dtype == dtype and out.is_contiguous()
    target = out if direct and out is not None else x.new_empty(shape, dtype=dtype)
    # Augmentation is not differentiable; inference mode also makes each op cheaper.
    # A caller's autocast must not lower the products' precision (or their dtype).
    with torch.inference_mode(), no_autocast(x.device.type):
        _run(x, plans, dtype, target)
    if out is None:
        return target.to(x.dtype)
    return out if direct else out.copy_(target)


def _run(x: torch.Tensor, plans: Sequence[Plan], dtype: torch.dtype, target: torch.Tensor) -> None:
    """The body of :func:`execute_many`: write the results into ``target (R, N, …)``."""
    n, c, t, v, m = x.shape
    r = len(plans)
    sources: list[_Source | None]
    if r == 1 and plans[0].time_index is None and plans[0].matrix is not None:
        # Nothing to re-index: the product writes the result directly.
        matrix = plans[0].matrix.to(x.device, dtype)
        torch.bmm(matrix, x.to(dtype).reshape(n, c, t * v * m), out=target.view(n, c, -1))
        sources = [None]
    elif all(p.matrix is None for p in plans):
        rows = x.to(dtype).contiguous().view(-1, v * m)
        sources = [_Source(rows, 0, c * t, t)] * r
    else:
        rows = _coordinate_maps(x, plans, dtype).view(-1, v * m)
        sources = [_Source(rows, i * c * t, r * c * t, t) for i in range(r)]
    for plan, source, result in zip(plans, sources, target, strict=True):
        index = plan.joint_index
        groups = [] if index is None else _moved_joint_groups(index)
        if source is not None:
            if groups and _gather_frames_and_joints(source, plan, result):
                groups = []
            else:
                _gather_frames(source, plan, result)
        _permute_joints(result, groups)
        if plan.noise is not None and plan.noise_index is not None and plan.noise.shape[0]:
            result.index_add_(0, plan.noise_index.to(x.device), plan.noise.to(x.device, dtype))
        if plan.blur_index is not None and plan.blur_kernel is not None and plan.blur_index.numel():
            _blur_samples(result, plan.blur_index, plan.blur_kernel)


def execute(x: torch.Tensor, plan: Plan, out: torch.Tensor | None = None) -> torch.Tensor:
    """Run ``plan`` on a batch ``x (N, C, T, V, M)``; see :func:`execute_many`.

    Returns:
        ``out`` (a contiguous tensor of the result's shape, dtype and device), or a
        new tensor like ``x`` (with ``T'`` frames when re-indexed).
    """
    return execute_many(x, [plan], None if out is None else out.unsqueeze(0))[0]


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
