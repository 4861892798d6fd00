"""Hand-written forward and backward passes for the hot layers of the ST-GCN on the CPU.

oneDNN runs the graph convolution's channel mixing (a ``(1, K)`` convolution dilated by
``V``) and its gradients 2-3x slower than the same contraction written as batched matrix
products on the ``(n, C, T, V)`` activations, because it first reorders those small-channel
activations into its blocked layout. :func:`graph_conv` computes the same
``Σ_k W_k x A_k`` with batched GEMMs in both directions, so nothing is reordered or
materialised beyond the per-partition joint mixing.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["graph_conv", "spatial_mean"]


class _GraphConv(torch.autograd.Function):
    """``out[n, c, t, w] = Σ_k Σ_i Σ_v W[k·C + c, i] · x[n, i, t, v] · A[k, v, w] + bias``."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        adj: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
    ) -> torch.Tensor:
        n, c_in, t, v = x.shape
        k, _, w = adj.shape
        c = weight.shape[0] // k
        rows = x.reshape(n, c_in * t, v)
        # Joint mixing, one partition at a time, into (n, K, C_in·T, W): partition k's
        # slice is a strided batch that bmm writes in place.
        mixed = x.new_empty(n, k, c_in * t, w)
        for i in range(k):
            torch.bmm(rows, adj[i].expand(n, v, w), out=mixed[:, i])
        # Channel mixing over (k, C_in): one (C, K·C_in) @ (K·C_in, T·W) product per sample.
        channel = weight.reshape(k, c, c_in).transpose(0, 1).reshape(c, k * c_in)
        out = torch.bmm(channel.expand(n, c, k * c_in), mixed.view(n, k * c_in, t * w))
        out = out.view(n, c, t, w)
        if bias is not None:
            out = out.add_(_joint_bias(bias, adj)[:, None, :])
        ctx.save_for_backward(rows, adj, channel, mixed, bias)
        ctx.shape = (n, c_in, t, v, k, w, c)
        return out

    @staticmethod
    def backward(
        ctx: Any, grad: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        rows, adj, channel, mixed, bias = ctx.saved_tensors
        n, c_in, t, v, k, w, c = ctx.shape
        need_x, need_adj, need_weight, need_bias = ctx.needs_input_grad
        grad3 = grad.reshape(n, c, t * w)
        grad_x = grad_adj = grad_weight = grad_bias = None
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
                grad_adj = torch.stack(
                    [torch.bmm(rows_t, grad_mixed[:, i]).sum(0) for i in range(k)]
                )
        if need_weight:
            per_sample = torch.bmm(grad3, mixed.view(n, k * c_in, t * w).transpose(1, 2))
            grad_weight = per_sample.sum(0).view(c, k, c_in).transpose(0, 1)
            grad_weight = grad_weight.reshape(k * c, c_in, 1, 1)
        if bias is not None and (need_bias or need_adj):
            per_joint = grad.sum(dim=(0, 2))  # (C, W)
            if need_bias:
                grad_bias = (adj.sum(dim=1) @ per_joint.t()).reshape(k * c)
            if need_adj:
                # d/dA[k, v, w] of Σ_c b_k[c] Σ_v A[k, v, w]: the same for every v.
                assert grad_adj is not None
                grad_adj = grad_adj + (bias.view(k, c) @ per_joint)[:, None, :]
        return grad_x, grad_adj, grad_weight, grad_bias


def _joint_bias(bias: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
    """The bias per (channel, joint) ``(C_out, W)``: ``Σ_k b_k · Σ_v A[k, v, w]``."""
    k = adj.shape[0]
    return bias.view(k, -1).t() @ adj.sum(dim=1)


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
    out: torch.Tensor = _GraphConv.apply(x, adj, weight, bias)  # type: ignore[no-untyped-call]
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
    strided path. Contiguous inputs keep the plain mean (their kernels handle it).
    """
    if x.is_contiguous():
        return x.mean(dim=(2, 3))
    out: torch.Tensor = _SpatialMean.apply(x)  # type: ignore[no-untyped-call]
    return out
