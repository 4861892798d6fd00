"""Seeding and capturing the global random number generators."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from aimclr.errors import AimCLRError

__all__ = ["check_rng_state", "epoch_seed", "get_rng_state", "seed_everything", "set_rng_state"]

# Entry of get_rng_state: (dtype kind, rank) of its tensor.
_RNG_ENTRIES = {
    "python_version": ((torch.int64,), 0),
    "python_internal": ((torch.int64,), 1),
    "python_gauss": ((torch.float64,), 1),
    "numpy_keys": ((torch.int64,), 1),
    "numpy_pos_gauss": ((torch.float64,), 1),
    "torch": ((torch.uint8,), 1),
}


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's global generators (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def get_rng_state() -> dict[str, Any]:
    """Capture the global RNG states (Python, NumPy, PyTorch CPU and CUDA) as tensors.

    Every value is a tensor or a list of tensors, so the result can be stored in a
    checkpoint that :func:`load_checkpoint` reads with ``weights_only=True``.
    """
    python_state = random.getstate()
    numpy_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python_version": torch.tensor(python_state[0]),
        "python_internal": torch.tensor(python_state[1], dtype=torch.int64),
        "python_gauss": torch.tensor(
            [float("nan") if python_state[2] is None else python_state[2]], dtype=torch.float64
        ),
        "numpy_keys": torch.from_numpy(np.asarray(numpy_state["state"]["key"], dtype=np.int64)),
        "numpy_pos_gauss": torch.tensor(
            [numpy_state["state"]["pos"], numpy_state["has_gauss"], numpy_state["gauss"]],
            dtype=torch.float64,
        ),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def check_rng_state(state: object) -> None:
    """Raise unless ``state`` looks like what :func:`get_rng_state` captures.

    Checks the entries, their dtypes and sizes (the Python state has 625 words, the
    NumPy key 624, the generic NumPy entries 3), without changing any generator.

    Raises:
        AimCLRError: a missing entry, or one of another type, dtype or size; the
            message names it.
    """
    if not isinstance(state, Mapping):
        raise AimCLRError(f"the saved RNG state must be a dict of tensors (get_rng_state), "
                          f"got {type(state).__name__}")  # fmt: skip
    missing = [key for key in _RNG_ENTRIES if key not in state]
    if missing:
        raise AimCLRError(f"the saved RNG state lacks the entries {missing}; it has "
                          f"{sorted(state)[:10]}")  # fmt: skip
    sizes = {"python_internal": 625, "numpy_keys": 624, "numpy_pos_gauss": 3, "python_gauss": 1}
    for key, (dtypes, rank) in _RNG_ENTRIES.items():
        value = state[key]
        ok = (isinstance(value, torch.Tensor) and value.dtype in dtypes and value.dim() == rank
              and (key not in sizes or value.numel() == sizes[key]))  # fmt: skip
        if not ok:
            got = (f"shape {tuple(value.shape)}, dtype {value.dtype}"
                   if isinstance(value, torch.Tensor) else type(value).__name__)  # fmt: skip
            raise AimCLRError(
                f"the saved RNG entry {key!r} must be a {dtypes[0]} tensor of rank {rank}"
                + (f" with {sizes[key]} values" if key in sizes else "") + f", got {got}"
            )
    cuda = state.get("cuda", [])
    if not isinstance(cuda, (list, tuple)) or not all(
        isinstance(t, torch.Tensor) and t.dtype == torch.uint8 for t in cuda
    ):
        raise AimCLRError("the saved RNG entry 'cuda' must be a list of uint8 tensors")


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the global RNG states captured by :func:`get_rng_state`.

    The tensors may live on any device (e.g. after ``load_checkpoint(...,
    map_location="cuda")``); they are read back on the CPU. CUDA states are restored
    for the GPUs that both the saving and this process see (device ``i`` to ``i``).

    Raises:
        AimCLRError: ``state`` is malformed (:func:`check_rng_state`); no generator
            changes.
    """
    check_rng_state(state)
    state = {
        key: [t.cpu() for t in value] if isinstance(value, (list, tuple)) else value.cpu()
        for key, value in state.items()
    }
    gauss = float(state["python_gauss"][0])
    random.setstate(
        (
            int(state["python_version"]),
            tuple(int(v) for v in state["python_internal"].tolist()),
            None if gauss != gauss else gauss,
        )
    )
    position, has_gauss, cached = state["numpy_pos_gauss"].tolist()
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": state["numpy_keys"].numpy().astype(np.uint32), "pos": int(position)},
            "has_gauss": int(has_gauss),
            "gauss": cached,
        }
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        # The saving machine may have had more (or fewer) GPUs: restore the devices
        # both have; the others keep their current state.
        for device, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, device)


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A seed for one epoch of one process, derived from the run's seed alone.

    :func:`~aimclr.training.loop.pretrain_epoch` seeds every random draw of an epoch
    from it (batch order, views, dropout), so epoch ``e`` of a resumed run draws
    exactly what it would have drawn in the uninterrupted run, and the ranks of a
    distributed run draw independently.

    Args:
        seed: the run's seed.
        epoch: 1-based epoch.
        rank: process rank under ``torch.distributed`` (0 otherwise).

    Returns:
        An integer in ``[0, 2**63)``, a linear mix of the three modulo ``2**63``.

    Example:
        >>> epoch_seed(0, 1), epoch_seed(0, 1, rank=1)
        (7919, 112648)
    """
    return (seed * 1_000_003 + epoch * 7919 + rank * 104_729) % 2**63
