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

from aimclr.errors import AimCLRError

__all__ = ["all_gather_no_grad", "gather_row_counts", "is_distributed", "rank", "world_size"]


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


def gather_row_counts(
    rows: int, device: torch.device | str, error: Exception | None = None
) -> list[int]:
    """Every rank's row count, in rank order; all ranks raise if any rank failed.

    A rank that rejects its input and raises on its own leaves the other ranks waiting
    in their next collective until the process group times out. So each rank passes
    the error of its own checks (or ``None``) here: the counts are exchanged in one
    small ``all_gather`` either way, then the failing ranks raise their own error and
    the others an :class:`~aimclr.errors.AimCLRError` naming the failing ranks.

    Args:
        rows: this rank's row count (e.g. its batch size).
        device: where the count tensor lives (the rank's GPU under NCCL).
        error: this rank's validation error, raised after the exchange.

    Returns:
        ``[B_0, ..., B_{W-1}]``; ``[rows]`` without a process group (where ``error``
        is raised at once).

    Raises:
        Exception: ``error`` on the rank that passed it.
        AimCLRError: on the other ranks when any rank passed an error.

    Example:
        >>> gather_row_counts(3, "cpu")
        [3]
    """
    if world_size() == 1:
        if error is not None:
            raise error
        return [rows]
    local = torch.tensor([-1 if error is not None else rows], dtype=torch.long, device=device)
    gathered = [torch.zeros_like(local) for _ in range(world_size())]
    dist.all_gather(gathered, local)
    counts = [int(count.item()) for count in gathered]
    if error is not None:
        raise error
    failed = [r for r, count in enumerate(counts) if count < 0]
    if failed:
        raise AimCLRError(
            f"rank(s) {failed} rejected their input (their own error says why); this rank "
            "stops as well so that no rank waits in a collective"
        )
    return counts


@torch.no_grad()
def all_gather_no_grad(x: torch.Tensor, counts: list[int] | None = None) -> torch.Tensor:
    """Concatenate ``x`` from every rank along dimension 0, in rank order.

    Ranks may hold different numbers of rows: the row counts are gathered first,
    every rank pads to the largest count, and the padding is dropped again after
    the gather. The result carries no autograd history.

    Args:
        x: rows to share, ``(B_r, ...)`` on rank ``r``; every rank must pass the
            same trailing shape, dtype and device type.
        counts: ``[B_0, ..., B_{W-1}]`` when the caller already has them from
            :func:`gather_row_counts` (saves that exchange); gathered here otherwise.

    Returns:
        ``(B_0 + ... + B_{W-1}, ...)``: the rows of rank 0, then rank 1, and so on.
        Without a process group (or with one process) this is ``x`` itself,
        detached.

    Example:
        >>> x = torch.arange(6.0).reshape(3, 2)
        >>> torch.equal(all_gather_no_grad(x), x)
        True
    """
    # The row counts come first, so that ranks with a smaller last batch still work.
    if counts is None:
        counts = gather_row_counts(x.shape[0], x.device)
    if len(counts) == 1:
        return x.detach()
    x = x.detach().contiguous()
    max_rows = max(counts)
    if x.shape[0] < max_rows:
        padded = x.new_zeros((max_rows, *x.shape[1:]))
        padded[: x.shape[0]] = x
    else:
        padded = x
    gathered = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(gathered, padded)
    return torch.cat([g[:n] for g, n in zip(gathered, counts, strict=True)], dim=0)
