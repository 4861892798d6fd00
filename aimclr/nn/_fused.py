"""Hand-written forward and backward passes for the hot layers of the ST-GCN on the CPU.

oneDNN runs the graph convolution's channel mixing (a ``(1, K)`` convolution dilated by
``V``) and its gradients 2-3x slower than the same contraction written as batched matrix
products on the ``(n, C, T, V)`` activations, because it first reorders those small-channel
activations into its blocked layout; the 1x1 residual convolutions lose about 2x the same
way. :func:`graph_conv` computes ``Σ_k W_k x A_k`` and :func:`pointwise_conv` ``W x + b``
with batched GEMMs in both directions, so nothing is reordered or materialised beyond the
per-partition joint mixing. The joint mixing (a ``(n·C_in·T, V) @ (V, V)`` product, inner
size 25) runs 3-4x faster as one 2-D GEMM than as a batch of per-sample ones, which needs
the partition outermost; that layout then splits the channel mixing into ``K``
accumulating products, which pays off unless a block widens its channels (the last
block, 64 → 256), so :func:`graph_conv` picks the layout by shape. :func:`batch_norm`
computes the
training-mode statistics of a contiguous map with two cheap reductions instead of
ATen's CPU statistics kernel (about 30 % of a BatchNorm forward saved, the same rounding
quality), and leaves normalisation and the backward pass to ATen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from aimclr._autocast import autocast_dtype

__all__ = [
    "batch_norm",
    "channels_last_path",
    "contiguous_path",
    "graph_conv",
    "graph_conv_rows",
    "joint_bias",
    "plain_layers",
    "pointwise_conv",
    "spatial_mean",
]

_enabled = True


@contextlib.contextmanager
def plain_layers() -> Iterator[None]:
    """Run the ST-GCN with its plain PyTorch layers inside the context (A/B timing, tests)."""
    global _enabled
    previous, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = previous


def _eager_cpu(x: torch.Tensor) -> bool:
    return _enabled and x.device.type == "cpu" and not torch.compiler.is_compiling()


def contiguous_path(x: torch.Tensor) -> bool:
    """Whether a contiguous map ``x`` takes the GEMM layers: CPU, no autocast, no compiler."""
    return _eager_cpu(x) and x.is_contiguous() and autocast_dtype("cpu") is None


def channels_last_path(x: torch.Tensor) -> bool:
    """Whether a channels-last map ``x`` (any dtype, autocast allowed) takes the row GEMMs."""
    return (
        _eager_cpu(x)
        and x.dim() == 4
        and x.is_contiguous(memory_format=torch.channels_last)
        and not x.is_contiguous()
    )


class _GraphConv(torch.autograd.Function):
    """``out[n, c, t, w] = Σ_k Σ_i Σ_v W[k·C + c, i] · x[n, i, t, v] · A[k, v, w] + bias``.

    Joint mixing first (``K·C_in`` intermediate channels), then channel mixing, in one
    of two layouts of the mixed features (``by_partition``): stacked ``(n, K, C_in·T,
    W)``, where channel mixing is one ``(C, K·C_in) @ (K·C_in, T·W)`` product per sample,
    or partition-outermost ``(K, n·C_in·T, W)``, where joint mixing and its input
    gradient are 2-D ``(n·C_in·T, V) @ (V, W)`` products and channel mixing sums ``K``
    products ``W_k (C, C_in) @ mixed[k, n] (C_in, T·W)``.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        adj: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        by_partition: bool,
    ) -> torch.Tensor:
        n, c_in, t, v = x.shape
        k, _, w = adj.shape
        c = weight.shape[0] // k
        mix = _mix_by_partition if by_partition else _mix_stacked
        out, rows, channel, mixed = mix(x, adj, weight.reshape(k, c, c_in))
        out = out.view(n, c, t, w)
        if bias is not None:
            out = out.add_(joint_bias(bias, adj)[:, None, :])
        ctx.save_for_backward(rows, adj, channel, mixed, bias)
        ctx.shape = (n, c_in, t, v, k, w, c)
        ctx.by_partition = by_partition
        return out

    @staticmethod
    def backward(
        ctx: Any, grad: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        rows, adj, channel, mixed, bias = ctx.saved_tensors
        need_x, need_adj, need_weight, need_bias, _ = ctx.needs_input_grad
        grad3 = grad.flatten(2)  # (n, C, T·W)
        backward = _mix_by_partition_backward if ctx.by_partition else _mix_stacked_backward
        grad_x, grad_adj, grad_weight = backward(
            grad3, rows, adj, channel, mixed, ctx.shape, need_x, need_adj, need_weight
        )
        grad_bias = None
        if bias is not None and (need_bias or need_adj):
            grad_bias, grad_adj = _joint_bias_gradients(grad, adj, bias, need_bias, grad_adj)
        return grad_x, grad_adj, grad_weight, grad_bias, None


_Grads = tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]
"""Input, adjacency and weight gradients of a graph-convolution layout (``None``: not needed)."""


def _mix_stacked(
    x: torch.Tensor, adj: torch.Tensor, per_partition: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """:class:`_GraphConv`'s stacked layout: ``(out (n, C, T·W), rows, channel, mixed)``."""
    n, c_in, t, v = x.shape
    k, _, w = adj.shape
    c = per_partition.shape[1]
    rows = x.reshape(n, c_in * t, v)
    # Joint mixing, one partition at a time, into (n, K, C_in·T, W): partition k's
    # slice is a strided batch that bmm writes in place.
    mixed = x.new_empty(n, k, c_in * t, w)
    for i in range(k):
        torch.bmm(rows, adj[i].expand(n, v, w), out=mixed[:, i])
    # Channel mixing over (k, C_in): one (C, K·C_in) @ (K·C_in, T·W) product per sample.
    channel = per_partition.transpose(0, 1).reshape(c, k * c_in)
    out = torch.bmm(channel.expand(n, c, k * c_in), mixed.view(n, k * c_in, t * w))
    return out, rows, channel, mixed


def _mix_stacked_backward(
    grad3: torch.Tensor,
    rows: torch.Tensor,
    adj: torch.Tensor,
    channel: torch.Tensor,
    mixed: torch.Tensor,
    shape: tuple[int, ...],
    need_x: bool,
    need_adj: bool,
    need_weight: bool,
) -> _Grads:
    """Gradients of :func:`_mix_stacked` for ``grad3`` ``(n, C, T·W)``."""
    n, c_in, t, v, k, w, c = shape
    grad_x = grad_adj = grad_weight = None
    if need_x or need_adj:
        # (n, K·C_in, T·W) = (K·C_in, C) @ grad per sample, viewed per partition.
        grad_mixed = torch.bmm(channel.t().expand(n, k * c_in, c), grad3)
        grad_mixed = grad_mixed.view(n, k, c_in * t, w)
        if need_x:
            grad_rows = torch.bmm(grad_mixed[:, 0], adj[0].t().expand(n, w, v))
            for i in range(1, k):
                grad_rows.baddbmm_(grad_mixed[:, i], adj[i].t().expand(n, w, v))
            grad_x = grad_rows.view(n, c_in, t, v)
        if need_adj:
            rows_t = rows.transpose(1, 2)
            grad_adj = torch.stack([torch.bmm(rows_t, grad_mixed[:, i]).sum(0) for i in range(k)])
    if need_weight:
        per_sample = torch.bmm(grad3, mixed.view(n, k * c_in, t * w).transpose(1, 2))
        grad_weight = per_sample.sum(0).view(c, k, c_in).transpose(0, 1)
        grad_weight = grad_weight.reshape(k * c, c_in, 1, 1)
    return grad_x, grad_adj, grad_weight


def _mix_by_partition(
    x: torch.Tensor, adj: torch.Tensor, per_partition: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """:class:`_GraphConv`'s partition-outermost layout: ``(out, rows, W_k, mixed)``."""
    n, c_in, t, v = x.shape
    k, _, w = adj.shape
    c = per_partition.shape[1]
    rows = x.reshape(n * c_in * t, v)
    mixed = x.new_empty(k, n * c_in * t, w)
    for i in range(k):
        torch.mm(rows, adj[i], out=mixed[i])
    samples = mixed.view(k, n, c_in, t * w)
    out = torch.bmm(per_partition[0].expand(n, c, c_in), samples[0])
    for i in range(1, k):
        out.baddbmm_(per_partition[i].expand(n, c, c_in), samples[i])
    return out, rows, per_partition, mixed


def _mix_by_partition_backward(
    grad3: torch.Tensor,
    rows: torch.Tensor,
    adj: torch.Tensor,
    per_partition: torch.Tensor,
    mixed: torch.Tensor,
    shape: tuple[int, ...],
    need_x: bool,
    need_adj: bool,
    need_weight: bool,
) -> _Grads:
    """Gradients of :func:`_mix_by_partition` for ``grad3`` ``(n, C, T·W)``."""
    n, c_in, t, v, k, w, c = shape
    grad_x = grad_adj = grad_weight = None
    if need_x or need_adj:
        # (K, n, C_in, T·W): W_kᵀ @ grad per sample, one partition at a time.
        grad_mixed = grad3.new_empty(k, n, c_in, t * w)
        for i in range(k):
            torch.bmm(per_partition[i].t().expand(n, c_in, c), grad3, out=grad_mixed[i])
        grad_rows_k = grad_mixed.view(k, n * c_in * t, w)
        if need_x:
            grad_rows = torch.mm(grad_rows_k[0], adj[0].t())
            for i in range(1, k):
                grad_rows.addmm_(grad_rows_k[i], adj[i].t())
            grad_x = grad_rows.view(n, c_in, t, v)
        if need_adj:
            rows_t = rows.view(n, c_in * t, v).transpose(1, 2)
            grad_adj = torch.stack(
                [torch.bmm(rows_t, grad_mixed[i].view(n, c_in * t, w)).sum(0) for i in range(k)]
            )
    if need_weight:
        samples = mixed.view(k, n, c_in, t * w)
        grad_weight = torch.stack(
            [torch.bmm(grad3, samples[i].transpose(1, 2)).sum(0) for i in range(k)]
        ).view(k * c, c_in, 1, 1)
    return grad_x, grad_adj, grad_weight


class _GraphConvRows(torch.autograd.Function):
    """Graph convolution of frames ``(n·T, V, C_in)`` (channels-last memory) → ``(n·T·W, C)``.

    ``z[f] = M @ frames[f]`` with the mixing matrix ``M`` ``(W·K, V)`` (row ``w·K + k`` is
    ``A[k, :, w]``), then ``out = z.view(n·T·W, K·C_in) @ weight`` with ``weight``
    ``(K·C_in, C)``. Every operand is used in its stored order (a transposed operand makes
    oneDNN's half-precision GEMMs copy it), except one copy of the small input.
    """

    @staticmethod
    def forward(
        ctx: Any, frames: torch.Tensor, mixing: torch.Tensor, weight: torch.Tensor
    ) -> torch.Tensor:
        f, v, _ = frames.shape
        rows = mixing.shape[0]
        with torch.autocast("cpu", enabled=False):
            z = torch.bmm(mixing.expand(f, rows, v), frames)  # (n·T, W·K, C_in)
            out = z.view(-1, weight.shape[0]) @ weight
        ctx.save_for_backward(frames, mixing, weight, z)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        frames, mixing, weight, z = ctx.saved_tensors
        f, v, c_in = frames.shape
        rows = mixing.shape[0]
        grad = grad.to(weight.dtype)
        grad_frames = grad_mixing = grad_weight = None
        grad_z = (grad @ weight.t()).view(f, rows, c_in)
        if ctx.needs_input_grad[0]:
            grad_frames = torch.bmm(mixing.t().contiguous().expand(f, v, rows), grad_z)
        if ctx.needs_input_grad[1]:
            # Σ over frames of grad_z[f] @ frames[f]ᵀ, summed in float32 at least.
            per_frame = torch.bmm(grad_z, frames.transpose(1, 2).contiguous())
            total = per_frame.sum(dim=0, dtype=torch.promote_types(per_frame.dtype, torch.float32))
            grad_mixing = total.to(mixing.dtype)
        if ctx.needs_input_grad[2]:
            grad_weight = z.view(-1, weight.shape[0]).t() @ grad
        return grad_frames, grad_mixing, grad_weight


class _PointwiseConv(torch.autograd.Function):
    """``out[n, c, t, v] = Σ_i W[c, i] · x[n, i, s·t, v] + b[c]`` (temporal stride ``s``)."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int
    ) -> torch.Tensor:
        n, c_in, t, v = x.shape
        c = weight.shape[0]
        kept = x[:, :, ::stride] if stride > 1 else x
        t_out = kept.shape[2]
        rows = kept.reshape(n, c_in, t_out * v)  # a copy of the kept frames when strided
        matrix = weight.view(c, c_in)
        if bias is None:
            out = torch.bmm(matrix.expand(n, c, c_in), rows)
        else:
            out = torch.baddbmm(bias[None, :, None], matrix.expand(n, c, c_in), rows)
        ctx.save_for_backward(rows, matrix)
        ctx.shape = (t, stride, bias is not None)
        return out.view(n, c, t_out, v)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        rows, matrix = ctx.saved_tensors
        t, stride, has_bias = ctx.shape
        n, c_in, _ = rows.shape
        c = matrix.shape[0]
        t_out, v = grad.shape[2], grad.shape[3]
        grad3 = grad.reshape(n, c, t_out * v)
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            kept = torch.bmm(matrix.t().expand(n, c_in, c), grad3).view(n, c_in, t_out, v)
            if stride > 1:
                grad_x = kept.new_zeros(n, c_in, t, v)
                grad_x[:, :, ::stride] = kept
            else:
                grad_x = kept
        if ctx.needs_input_grad[1]:
            grad_weight = torch.bmm(grad3, rows.transpose(1, 2)).sum(0).view(c, c_in, 1, 1)
        if has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad3.sum(dim=(0, 2))
        return grad_x, grad_weight, grad_bias, None


def joint_bias(bias: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
    """The bias per (channel, joint) ``(C_out, W)``: ``Σ_k b_k · Σ_v A[k, v, w]``."""
    k = adj.shape[0]
    return bias.view(k, -1).t() @ adj.sum(dim=1)


def _joint_bias_gradients(
    grad: torch.Tensor,
    adj: torch.Tensor,
    bias: torch.Tensor,
    need_bias: bool,
    grad_adj: torch.Tensor | None,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Gradients through :func:`joint_bias` for ``grad`` ``(n, C, T, W)``.

    Returns the bias gradient ``(K·C,)`` (``None`` unless ``need_bias``) and
    ``grad_adj`` plus the bias's share of the adjacency gradient (``None`` stays
    ``None``).
    """
    k, c = adj.shape[0], grad.shape[1]
    per_joint = grad.sum(dim=(0, 2))  # (C, W)
    grad_bias = (adj.sum(dim=1) @ per_joint.t()).reshape(k * c) if need_bias else None
    if grad_adj is not None:
        # d/dA[k, v, w] of Σ_c b_k[c] Σ_v A[k, v, w]: the same for every v.
        grad_adj = grad_adj + (bias.view(k, c) @ per_joint)[:, None, :]
    return grad_bias, grad_adj


def graph_conv(
    x: torch.Tensor, adj: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """Spatial graph convolution of contiguous ``x`` with batched matrix products.

    Args:
        x: features ``(n, C_in, T, V)``, contiguous.
        adj: partitions ``(K, V, W)``.
        weight: ``(K·C_out, C_in, 1, 1)``, output channel ``k·C_out + c`` of partition
            ``k`` (the layout of :class:`~aimclr.nn.stgcn.GraphConv`'s convolution).
        bias: ``(K·C_out,)`` or ``None``.

    Returns:
        ``(n, C_out, T, W)``, contiguous.
    """
    # Measured per block shape (benchmarks/bench_encoder.py): the partition-outermost
    # layout wins unless the block widens its channels by more than 2x.
    by_partition = weight.shape[0] <= 2 * adj.shape[0] * x.shape[1]
    out: torch.Tensor = _GraphConv.apply(x, adj, weight, bias, by_partition)  # type: ignore[no-untyped-call]
    return out


def graph_conv_rows(
    frames: torch.Tensor, mixing: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """Bias-free graph convolution of channels-last frames as two row GEMMs.

    Args:
        frames: ``(n·T, V, C_in)``, the memory of a channels-last ``(n, C_in, T, V)`` map.
        mixing: ``(W·K, V)``; row ``w·K + k`` holds ``A[k, :, w]``.
        weight: ``(K·C_in, C_out)``; row ``k·C_in + i`` holds ``W_k[:, i]``.

    Returns:
        ``(n·T·W, C_out)``: the memory of the channels-last output ``(n, C_out, T, W)``.
        Operands must share one dtype (cast them first under autocast).
    """
    out: torch.Tensor = _GraphConvRows.apply(frames, mixing, weight)  # type: ignore[no-untyped-call]
    return out


def pointwise_conv(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int = 1
) -> torch.Tensor:
    """A 1x1 convolution with temporal stride of contiguous ``x`` as batched GEMMs.

    Args:
        x: ``(n, C_in, T, V)``, contiguous.
        weight: ``(C_out, C_in, 1, 1)``.
        bias: ``(C_out,)`` or ``None``.
        stride: temporal stride ``s``.

    Returns:
        ``(n, C_out, ⌊(T - 1) / s⌋ + 1, V)``, contiguous.
    """
    out: torch.Tensor = _PointwiseConv.apply(x, weight, bias, stride)  # type: ignore[no-untyped-call]
    return out


class _SpatialMean(torch.autograd.Function):
    """Mean over ``(T, V)`` whose gradient is dense and laid out like the input."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.like = torch.empty_like(x, device="meta")  # shape, dtype and layout only
        return x.mean(dim=(2, 3))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        like = ctx.like
        out = torch.empty_like(like, device=grad.device)
        count = like.shape[2] * like.shape[3]
        return out.copy_((grad / count)[:, :, None, None].expand(like.shape))


def spatial_mean(x: torch.Tensor) -> torch.Tensor:
    """``x.mean(dim=(2, 3))`` for ``(n, C, T, V)``; the gradient comes back dense.

    The plain mean's gradient is a broadcast view; CPU kernels that combine it with a
    channels-last half-precision tensor (the ReLU before the pooling) take a slow
    strided path. Only maps on :func:`channels_last_path` need it; others take the
    plain mean.
    """
    if not channels_last_path(x):
        return x.mean(dim=(2, 3))
    out: torch.Tensor = _SpatialMean.apply(x)  # type: ignore[no-untyped-call]
    return out


class _BatchNormTrain(torch.autograd.Function):
    """Training-mode BatchNorm of ``(n, C, T, V)``: returns ``(out, mean, biased var)``."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        planes = x.view(x.shape[0], x.shape[1], -1)
        # Mean over each plane, then over the batch: two short, vectorised reductions.
        mean = planes.mean(dim=2).mean(dim=0)
        # Two-pass variance (exact up to rounding); the vector norm reduces the centred
        # map in one vectorised pass, where square_() then mean() would take two.
        centred_norm = torch.linalg.vector_norm(planes - mean[:, None], dim=2)
        var = centred_norm.square_().mean(dim=0).div_(planes.shape[2])
        out = torch.ops.aten.native_batch_norm(x, weight, bias, mean, var, False, 0.0, eps)[0]
        invstd = (var + eps).rsqrt_()
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.eps = eps
        ctx.mark_non_differentiable(mean, var)
        return out, mean, var

    @staticmethod
    def backward(
        ctx: Any, grad: torch.Tensor, _mean: torch.Tensor, _var: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        x, weight, mean, invstd = ctx.saved_tensors
        mask = list(ctx.needs_input_grad[:3])
        grad_x, grad_weight, grad_bias = torch.ops.aten.native_batch_norm_backward(
            grad.contiguous(), x, weight, None, None, mean, invstd, True, ctx.eps, mask
        )
        return grad_x, grad_weight, grad_bias, None


def batch_norm(bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """``bn(x)``, with the faster statistics in training mode for contiguous CPU maps.

    Covers affine BatchNorm with running statistics on a float32/float64 ``x``
    ``(n, C, T, V)`` that takes :func:`contiguous_path`; everything else (and the running
    statistics' semantics: momentum, cumulative average, unbiased variance) is the
    module's own.
    """
    if not (
        type(bn) is nn.BatchNorm2d  # not SyncBatchNorm or another subclass's statistics
        and bn.training
        and contiguous_path(x)
        and x.dtype in (torch.float32, torch.float64)
        and x.dim() == 4
        and bn.affine
        and bn.running_mean is not None
        and bn.running_var is not None
        and bn.num_batches_tracked is not None
    ):
        out: torch.Tensor = bn(x)
        return out
    weight, bias = bn.weight, bn.bias
    out, mean, var = _BatchNormTrain.apply(x, weight, bias, bn.eps)  # type: ignore[no-untyped-call]
    with torch.no_grad():
        bn.num_batches_tracked.add_(1)
        factor = bn.momentum
        if factor is None:  # cumulative moving average
            factor = 1.0 / float(bn.num_batches_tracked)
        count = x.numel() // x.shape[1]
        bn.running_mean.lerp_(mean.to(bn.running_mean.dtype), factor)
        unbiased = var * (count / max(count - 1, 1))
        bn.running_var.lerp_(unbiased.to(bn.running_var.dtype), factor)
    return out
