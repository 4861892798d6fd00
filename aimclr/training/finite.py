"""Finite checks of training: non-finite losses on every rank together, bad input samples."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from aimclr.nn.distributed import is_distributed

__all__ = ["NonFiniteLossError", "check_finite_losses", "nonfinite_samples"]


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; training stops instead of corrupting weights."""


def check_finite_losses(
    losses: Mapping[str, torch.Tensor], where: str, all_ranks: bool = False
) -> None:
    """Raise :class:`NonFiniteLossError` naming every non-finite loss term.

    Args:
        losses: scalar loss tensors by name.
        where: position in training for the message, e.g. ``"epoch 3, step 17"``.
        all_ranks: under ``torch.distributed``, decide together: every rank must
            call this, and all of them raise when any rank's losses are not finite
            (one small ``all_reduce``). A rank raising alone would leave the others
            waiting in the gradient all-reduce of the next ``backward()``.
    """
    finite = [torch.isfinite(value).all() for value in losses.values()]
    # One device synchronisation for all terms on the usual, finite path.
    all_finite = not finite or bool(torch.stack(finite).all())
    bad = {} if all_finite else {
        name: float(value)
        for (name, value), ok in zip(losses.items(), finite, strict=True) if not bool(ok)
    }
    if all_ranks and is_distributed():
        device = next(iter(losses.values())).device if losses else torch.device("cpu")
        failed = torch.tensor([1 if bad else 0], device=device)
        torch.distributed.all_reduce(failed)
        if not bad and int(failed.item()):
            raise NonFiniteLossError(
                f"non-finite loss at {where} on {int(failed.item())} other rank(s); stopping "
                "every rank before the optimiser step so the last checkpoint stays valid"
            )
    if bad:
        raise NonFiniteLossError(
            f"non-finite loss at {where}: {bad}; stopping before the optimiser step so the "
            "last checkpoint stays valid (lower the learning rate, or check the input data)"
        )


def nonfinite_samples(x: torch.Tensor) -> list[int]:
    """The samples of a batch (positions along its first axis) holding NaN or infinity.

    On the usual, finite path this is one summation of the batch (an overflow of the
    sum only sends it to the exact per-sample test): about 28 µs for a
    ``(32, 3, 25, 25, 1)`` float32 batch and 0.27 ms for ``(128, 3, 50, 25, 2)`` on one
    CPU thread, against 0.29 and 4.3 ms for ``torch.isfinite(x).all()``
    (``benchmarks/bench_faults.py``). Call it on the host copy of a batch, before it
    goes to a GPU: reading the result of a GPU tensor would wait for the device.

    Args:
        x: a batch ``(N, ...)``, e.g. ``(N, C, T, V, M)``.

    Returns:
        The ascending indices ``i`` with a non-finite value in ``x[i]``; empty when all
        are finite.

    Example:
        >>> x = torch.zeros(4, 3, 2)
        >>> x[2, 1, 0] = float("nan")
        >>> nonfinite_samples(x), nonfinite_samples(torch.ones(2, 3))
        ([2], [])
    """
    if not x.is_floating_point() or x.numel() == 0 or bool(torch.isfinite(x.sum())):
        return []
    finite = torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)
    return torch.nonzero(~finite).flatten().tolist()
