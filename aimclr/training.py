"""Helpers for training loops: atomic checkpoints, RNG state, the step schedule.

They hold no training logic of their own; ``examples/pretrain.py`` shows how they
fit together with the model, the transforms and the data.
"""

from __future__ import annotations

import os
import random
import secrets
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aimclr.errors import AimCLRError
from aimclr.nn.distributed import is_distributed

__all__ = [
    "NonFiniteLossError",
    "check_finite_losses",
    "get_rng_state",
    "load_checkpoint",
    "save_checkpoint",
    "seed_everything",
    "set_rng_state",
    "step_lr",
]


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; training stops instead of corrupting weights."""


def save_checkpoint(state: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``state`` with :func:`torch.save` so that a crash never leaves a torn file.

    The bytes go to a temporary file in the same folder, are flushed to disk, and
    the file is then renamed over ``path`` (an atomic replace on POSIX and
    Windows) and the folder flushed. A kill at any moment leaves either the old
    checkpoint or the new one. A new file gets the permissions of any new file under
    the process umask; a replaced one keeps its mode.

    Args:
        state: anything :func:`torch.save` accepts; tensors should be on the CPU
            or will be saved with their device.
        path: destination file; parent folders are created.

    Returns:
        The destination path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A plain exclusive open (not mkstemp's 0600) gives the file the permissions of any
    # new file under the process umask; a replaced checkpoint keeps its own mode.
    temporary = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    try:
        with open(temporary, "xb") as file:
            torch.save(dict(state), file)
            file.flush()
            os.fsync(file.fileno())
        if path.exists():
            os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (the rename) to disk where the OS allows it (POSIX)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open folders
        return
    try:
        os.fsync(descriptor)
    except OSError:  # some file systems refuse fsync on folders
        pass
    finally:
        os.close(descriptor)


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Uses ``weights_only=True`` (plain containers, numbers, strings and tensors only),
    so loading a file cannot run code.

    Raises:
        AimCLRError: the file does not exist or does not hold a dictionary.
    """
    path = Path(path)
    if not path.is_file():
        raise AimCLRError(f"checkpoint file not found: {path}")
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict):
        raise AimCLRError(f"checkpoint {path} must hold a dict, got {type(state).__name__}")
    return state


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


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the global RNG states captured by :func:`get_rng_state`.

    The tensors may live on any device (e.g. after ``load_checkpoint(...,
    map_location="cuda")``); they are read back on the CPU. CUDA states are restored
    for the GPUs that both the saving and this process see (device ``i`` to ``i``).
    """
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


def step_lr(epoch: int, base_lr: float, milestones: Sequence[int], gamma: float = 0.1) -> float:
    """Learning rate of a step schedule, as the reference's ``adjust_lr``.

    Args:
        epoch: 1-based epoch number.
        base_lr: learning rate before the first milestone.
        milestones: epochs after which the rate is multiplied by ``gamma``; the
            reference pretraining uses ``[250]`` (epochs 1-250 at 0.1, 251-300 at 0.01).
        gamma: the factor per milestone passed.

    Returns:
        ``base_lr * gamma ** (number of milestones < epoch)``.

    Example:
        >>> step_lr(250, 0.1, [250]), round(step_lr(251, 0.1, [250]), 6)
        (0.1, 0.01)
    """
    return base_lr * gamma ** sum(1 for milestone in milestones if epoch > milestone)


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
    bad = {name: float(value) for name, value in losses.items()
           if not bool(torch.isfinite(value).all())}  # fmt: skip
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
