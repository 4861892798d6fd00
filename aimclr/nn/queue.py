"""A ring buffer of key embeddings that serve as negatives (MoCo / AimCLR memory queue).

MoCo: He et al., CVPR 2020, [arXiv:1911.05722](https://arxiv.org/abs/1911.05722).
"""

from __future__ import annotations

import torch
from torch import nn

from aimclr._checks import (
    check_device,
    check_floating,
    check_generator,
    check_int,
    check_tensor,
    describe,
)
from aimclr.errors import AimCLRError
from aimclr.nn.distributed import all_gather_no_grad, gather_row_counts

__all__ = ["MomentumQueue"]


class MomentumQueue(nn.Module):
    """First-in-first-out queue of ``K`` keys of dimension ``D``, stored ``(K, D)``.

    The queue is a ring: :meth:`enqueue` writes a batch at the pointer, wrapping
    around the end, and advances the pointer. Any batch size ``1 <= B <= K`` works
    (``B`` need not divide ``K``). Both buffers are persistent, so the queue is
    saved in and restored from ``state_dict`` checkpoints.

    It starts with random unit rows; :meth:`enqueue` stores keys as given, without
    normalising or checking them (that would cost a GPU synchronisation per step).
    For cosine logits enqueue L2-normalised keys, as :class:`~aimclr.model.AimCLR`
    does; ``contrastive_logits(..., on_unnormalized="raise")`` checks the queue's rows.
    Rows are keys: MoCo's reference code keeps the transpose, ``(D, K)``.

    Under ``torch.distributed`` (an initialised default process group),
    :meth:`enqueue` first gathers the keys of all ranks (concatenated in rank
    order; ranks may pass different batch sizes), so every rank writes the same
    rows and all ranks hold identical queues, as one process would with the
    concatenated batch. Without a process group it is a plain local update.

    Args:
        size: number of keys ``K``.
        dim: key dimension ``D``.
        generator: optional random generator for the initial keys (drawn on the
            generator's device, then moved to ``device``).
        device: where the buffers live.
        dtype: floating dtype of the keys (default: the torch default dtype).

    Attributes:
        keys: buffer ``(K, D)``, initialised with standard normal rows then
            L2-normalised per row.
        ptr: buffer ``(1,)`` int64, the row the next key is written to.

    Raises:
        AimCLRError: non-positive ``size`` or ``dim``, or a non-floating ``dtype``.

    Example:
        >>> queue = MomentumQueue(size=5, dim=3, generator=torch.Generator().manual_seed(0))
        >>> queue.negatives().shape
        torch.Size([5, 3])
        >>> queue.enqueue(torch.ones(4, 3))
        >>> queue.enqueue(torch.zeros(2, 3))  # wraps around: rows 4 and 0
        >>> int(queue.ptr), queue.keys[:, 0].tolist()
        (1, [0.0, 1.0, 1.0, 1.0, 0.0])
    """

    keys: torch.Tensor
    ptr: torch.Tensor

    def __init__(
        self,
        size: int,
        dim: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        size = check_int(size, "size", meaning="queue length K")
        dim = check_int(dim, "dim", meaning="key dimension D")
        dtype = torch.get_default_dtype() if dtype is None else dtype
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise AimCLRError(f"dtype must be a floating dtype (a torch.dtype), got {dtype!r}")
        device = check_device(device)
        check_generator(generator)
        self.register_buffer("keys", torch.empty(size, dim, device=device, dtype=dtype))
        self.register_buffer("ptr", torch.zeros(1, dtype=torch.long, device=device))
        self.reset(generator=generator)

    @property
    def size(self) -> int:
        """Number of keys ``K``."""
        return int(self.keys.shape[0])

    @property
    def dim(self) -> int:
        """Key dimension ``D``."""
        return int(self.keys.shape[1])

    @torch.no_grad()
    def reset(self, generator: torch.Generator | None = None) -> None:
        """Refill with random unit rows and move the pointer to 0.

        Args:
            generator: optional random generator; its device decides where the
                numbers are drawn.

        Raises:
            AimCLRError: ``generator`` is not a :class:`torch.Generator`;
                raised before the queue is changed.
        """
        check_generator(generator)
        draw_device = generator.device if generator is not None else self.keys.device
        rows = torch.randn(
            self.keys.shape, generator=generator, device=draw_device, dtype=torch.float32
        )
        rows = nn.functional.normalize(rows, dim=1)
        self.keys.copy_(rows)
        self.ptr.zero_()

    def negatives(self) -> torch.Tensor:
        """Return a detached copy of the keys, ``(K, D)``.

        A copy (not a view) because :meth:`enqueue` later writes into the buffer in
        place, which would invalidate a view that autograd saved for the backward
        pass of ``query @ negatives().T``.
        """
        return self.keys.detach().clone()

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Write ``keys`` at the pointer (wrapping around) and advance the pointer.

        The keys are cast to the queue's dtype and device and detached; they are
        stored as given, not normalised (pass unit vectors for cosine logits). Under
        ``torch.distributed`` the keys of all ranks are gathered first (rank order), so
        ``B`` below is the total over ranks.

        Args:
            keys: ``(B, D)`` floating tensor with ``1 <= B <= K``.

        Raises:
            AimCLRError: ``keys`` is not a floating ``(B, D)`` tensor with the
                queue's ``D``, or ``B`` is 0 or larger than ``K``; raised before
                the queue is changed, and under ``torch.distributed`` on every rank
                when one rank's keys are bad.
        """
        try:
            self._check_keys(keys, "keys")
        except AimCLRError as error:
            # Join the count exchange of the gather first (it raises ``error`` here and
            # an error on the other ranks), so that no rank waits for this one.
            gather_row_counts(0, self.keys.device, error)
            raise
        counts = gather_row_counts(keys.shape[0], self.keys.device)
        if sum(counts) > self.size:  # the total over ranks
            raise AimCLRError(
                f"keys gathered from all ranks must hold between 1 and K = {self.size} rows "
                f"(the queue size), got {' + '.join(map(str, counts))} = {sum(counts)}"
            )
        self._write(keys, counts)

    @torch.no_grad()
    def _write(self, keys: torch.Tensor, counts: list[int] | None = None) -> None:
        """:meth:`enqueue` without checks (for callers that validated the batch).

        ``counts`` are the ranks' row counts when the caller already exchanged them
        (one collective and host synchronisation less per step).
        """
        keys = all_gather_no_grad(keys, counts)
        keys = keys.to(device=self.keys.device, dtype=self.keys.dtype)
        batch = keys.shape[0]
        # Row indices computed on the device: no host synchronisation per step.
        rows = (self.ptr + torch.arange(batch, device=self.ptr.device)) % self.size
        self.keys.index_copy_(0, rows, keys)
        self.ptr.copy_((self.ptr + batch) % self.size)

    def forward(self) -> torch.Tensor:
        """Same as :meth:`negatives`: the current keys, ``(K, D)``, detached."""
        return self.negatives()

    def extra_repr(self) -> str:
        """Size, dimension and dtype for ``repr``."""
        return f"size={self.size}, dim={self.dim}, dtype={self.keys.dtype}"

    def _check_keys(self, keys: torch.Tensor, name: str) -> None:
        check_tensor(keys, name)
        if keys.dim() != 2 or keys.shape[1] != self.dim:
            raise AimCLRError(
                f"{name} must have layout (B, D) with D = {self.dim}, got {describe(keys)}"
            )
        check_floating(keys, name)
        if keys.device.type == "meta" and self.keys.device.type != "meta":
            raise AimCLRError(
                f"{name} (B, D) on the meta device hold no values to store in a queue on "
                f"{self.keys.device}, got {describe(keys)} on meta"
            )
        if not 1 <= keys.shape[0] <= self.size:
            raise AimCLRError(
                f"{name} must hold between 1 and K = {self.size} rows (the queue size), "
                f"got {describe(keys)}"
            )

