"""Stop training at the first non-finite loss, on every rank together."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from aimclr.nn.distributed import is_distributed

__all__ = ["NonFiniteLossError", "check_finite_losses"]


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
