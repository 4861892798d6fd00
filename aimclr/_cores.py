"""Unchecked cores of one contrastive step: logits, losses, neighbours, momentum update.

The public functions of :mod:`aimclr.losses` and :mod:`aimclr.nn.momentum` validate
their arguments and call these;
:class:`~aimclr.model.AimCLR`, which validates its views once per step, calls them
directly, so that no tensor is checked twice inside a step. Nothing here checks an
argument or reads a value.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from aimclr._autocast import autocast_dtype, no_autocast


def logits(
    query: torch.Tensor, positive_key: torch.Tensor, queue: torch.Tensor, temperature: float
) -> torch.Tensor:
    """:func:`~aimclr.losses.contrastive_logits` without checks."""
    dtype = torch.promote_types(torch.promote_types(query.dtype, positive_key.dtype), queue.dtype)
    device_type = query.device.type
    if dtype == torch.float16 or autocast_dtype(device_type) == torch.float16:
        # A float16 dot product overflows above 65504 before any division could help.
        dtype = torch.promote_types(dtype, torch.float32)
        with no_autocast(device_type):
            return products(query.to(dtype), positive_key.to(dtype), queue.to(dtype), temperature)
    return products(query.to(dtype), positive_key.to(dtype), queue.to(dtype), temperature)


def products(
    query: torch.Tensor, positive_key: torch.Tensor, queue: torch.Tensor, temperature: float
) -> torch.Tensor:
    """``[q·k, q·Mᵀ] / τ`` in the inputs' dtype, divided in float32 at least."""
    # n: batch, d: embedding dimension, k: queue entry.
    positive = torch.einsum("nd,nd->n", query, positive_key).unsqueeze(1)
    # A plain GEMM on the transposed view: einsum would copy the (K, D) queue into a
    # (1, D, K) batch first (about 12 ms per call for K = 32768 in bfloat16 on a CPU).
    negative = query @ queue.t()
    # Divide in float32 at least: bfloat16 products keep ~3 digits, and q·k / τ of
    # float16 values would overflow for |q·k| > 65504·τ.
    out_dtype = torch.promote_types(positive.dtype, torch.float32)
    return torch.cat([positive.to(out_dtype), negative.to(out_dtype)], dim=1) / temperature


def log_probs(logits: torch.Tensor) -> torch.Tensor:
    """``log_softmax`` over candidates, in float32 for half-precision logits."""
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    return F.log_softmax(logits, dim=1)


def info_nce(log_p: torch.Tensor) -> torch.Tensor:
    """InfoNCE from ``(N, 1 + K)`` log-probabilities whose column 0 is the positive."""
    return -log_p[:, 0].mean()


def d3m(
    log_q: torch.Tensor,
    target_log_p: torch.Tensor,
    target: torch.Tensor,
    divergence: str = "cross_entropy",
) -> torch.Tensor:
    """D3M from the trained view's log-probabilities and the detached target ``p``."""
    cross_entropy = -(target * log_q).sum(dim=1).mean()
    if divergence == "cross_entropy":
        return cross_entropy
    return cross_entropy - entropy(target_log_p, target)


def entropy(log_p: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``−mean_n Σ_j p log p``; candidates with ``p = 0`` contribute 0 (not NaN)."""
    return -torch.where(p > 0, p * log_p, torch.zeros_like(p)).sum(dim=1).mean()


@torch.no_grad()
def mine(queries: Sequence[torch.Tensor], queue: torch.Tensor, top_k: int) -> torch.Tensor:
    """:func:`~aimclr.losses.mine_neighbors` without checks or normalisation."""
    first = queries[0]
    size = queue.shape[0]
    mask = torch.zeros(first.shape[0], 1 + size, dtype=torch.bool, device=first.device)
    mask[:, 0] = True
    # Rank in float32 at least, outside autocast: bfloat16 similarities keep ~3 digits,
    # so near neighbours in a large queue would tie and top-k would pick among them.
    dtype = torch.promote_types(torch.promote_types(first.dtype, queue.dtype), torch.float32)
    with no_autocast(first.device.type):
        keys = queue.to(dtype).T
        for z in queries:
            nearest = (z.to(dtype) @ keys).topk(top_k, dim=1).indices
            mask.scatter_(1, nearest + 1, True)
    return mask


def nnm(log_p: torch.Tensor, pos_mask: torch.Tensor, reduction: str) -> torch.Tensor:
    """:func:`~aimclr.losses.nnm_loss` from log-probabilities, without checks."""
    # where() rather than a product: a -inf logit outside the mask must not give NaN.
    per_sample = torch.where(pos_mask, log_p, torch.zeros_like(log_p)).sum(dim=1)
    if reduction == "mean":
        per_sample = per_sample / pos_mask.sum(dim=1).clamp(min=1).to(per_sample.dtype)
    return -per_sample.mean()


def ema_(source: list[torch.Tensor], target: list[torch.Tensor], m: float) -> None:
    """``target ← m·target + (1 − m)·source``, in place, with fused foreach kernels."""
    if not target:
        return
    # Same arithmetic as the reference: θ_k·m + θ_q·(1 − m).
    torch._foreach_mul_(target, m)
    torch._foreach_add_(target, source, alpha=1.0 - m)


@torch.no_grad()
def update_parameters_(query_net: nn.Module, key_net: nn.Module, m: float) -> None:
    """:func:`~aimclr.nn.momentum.update_momentum` of the parameters, without checks.

    For networks whose parameters match in order by construction (a key network made
    by :func:`~aimclr.nn.momentum.copy_and_freeze`), as in AimCLR's step.
    """
    ema_(list(query_net.parameters()), list(key_net.parameters()), m)
