"""Small :mod:`torch.distributed` helpers that degrade to no-ops without a process group.

Everything here works unchanged on CPU, on one GPU and under
``DistributedDataParallel``: when no process group is initialised,
:func:`world_size` is 1, :func:`rank` is 0 and :func:`all_gather_no_grad` returns
its input. Nothing here moves tensors between devices; with the NCCL backend the
caller's tensors must already be on the rank's GPU.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

__all__ = ["all_gather_no_grad", "is_distributed", "rank", "world_size"]


def is_distributed() -> bool:
    """Return ``True`` when a default process group is initialised.

    Example:
        >>> is_distributed()
        False
    """
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Number of processes in the default group; 1 without a process group.

    Example:
        >>> world_size()
        1
    """
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """Rank of this process in the default group; 0 without a process group.

    Example:
        >>> rank()
        0
    """
    return dist.get_rank() if is_distributed() else 0


@torch.no_grad()
def all_gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every rank along dimension 0, in rank order.

    Ranks may hold different numbers of rows: the row counts are gathered first,
    every rank pads to the largest count, and the padding is dropped again after
    the gather. The result carries no autograd history.

    Args:
        x: rows to share, ``(B_r, ...)`` on rank ``r``; every rank must pass the
            same trailing shape, dtype and device type.

    Returns:
        ``(B_0 + ... + B_{W-1}, ...)``: the rows of rank 0, then rank 1, and so on.
        Without a process group (or with one process) this is ``x`` itself,
        detached.

    Example:
        >>> x = torch.arange(6.0).reshape(3, 2)
        >>> torch.equal(all_gather_no_grad(x), x)
        True
    """
    if world_size() == 1:
        return x.detach()
    n_ranks = world_size()
    x = x.detach().contiguous()
    # Gather the row counts first so that ranks with a smaller last batch still work.
    local_rows = torch.tensor([x.shape[0]], dtype=torch.long, device=x.device)
    rows = [torch.zeros_like(local_rows) for _ in range(n_ranks)]
    dist.all_gather(rows, local_rows)
    counts = [int(r.item()) for r in rows]
    max_rows = max(counts)
    if x.shape[0] < max_rows:
        padded = x.new_zeros((max_rows, *x.shape[1:]))
        padded[: x.shape[0]] = x
    else:
        padded = x
    gathered = [torch.empty_like(padded) for _ in range(n_ranks)]
    dist.all_gather(gathered, padded)
    return torch.cat([g[:n] for g, n in zip(gathered, counts, strict=True)], dim=0)
