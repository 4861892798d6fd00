"""Where a training process runs: device, process group, autocast precision."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Literal

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from aimclr.errors import AimCLRError

__all__ = ["AMP_MODES", "AmpMode", "Runtime", "resolve_device", "setup_runtime"]

AmpMode = Literal["auto", "off", "bf16", "fp16"]
"""Autocast choice of :func:`setup_runtime`."""

AMP_MODES: tuple[AmpMode, ...] = ("auto", "off", "bf16", "fp16")
"""The accepted values of ``amp`` in :func:`setup_runtime`."""

_AMP_DTYPES: dict[str, torch.dtype | None] = {
    "off": None, "bf16": torch.bfloat16, "fp16": torch.float16,
}  # fmt: skip


@dataclass(frozen=True)
class Runtime:
    """The device, distributed rank and autocast precision of this process.

    Attributes:
        device: where the model and the batches live.
        rank: rank in the default process group (0 without one).
        world_size: number of processes (1 without a process group).
        amp_dtype: autocast dtype (``torch.bfloat16`` or ``torch.float16``), or
            ``None`` for full precision.
    """

    device: torch.device
    rank: int = 0
    world_size: int = 1
    amp_dtype: torch.dtype | None = None

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the process that logs, saves and evaluates."""
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        """``torch.autocast`` at :attr:`amp_dtype` on the device type, or a no-op."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """A gradient scaler for float16 autocast (``None`` otherwise: not needed)."""
        if self.amp_dtype != torch.float16:
            return None
        return torch.amp.GradScaler(self.device.type)

    def distribute(self, model: nn.Module) -> nn.Module:
        """``model`` wrapped in ``DistributedDataParallel`` when several processes run.

        Call after moving ``model`` to :attr:`device` (and after loading a
        checkpoint or compiling); with one process ``model`` is returned as is.
        """
        if self.world_size == 1:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def close(self) -> None:
        """Wait for every rank, then leave the process group (no-op with one process)."""
        if self.world_size > 1 and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The device a training process can use, checked before any work.

    Args:
        device: ``"auto"`` (CUDA when available, else the CPU), or a device such as
            ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.

    Returns:
        The :class:`torch.device`.

    Raises:
        AimCLRError: an unknown device, ``meta`` (it holds no data), or a device this
            machine does not have (CUDA without a GPU or a CUDA build of torch, a GPU
            index beyond the GPUs present, MPS without Apple silicon).

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if isinstance(device, str) and device.strip() == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise AimCLRError(f"unknown device {device!r}; expected 'auto', 'cpu', 'cuda', "
                          "'cuda:INDEX' or 'mps'") from None  # fmt: skip
    if resolved.type == "meta":
        raise AimCLRError("device 'meta' holds no data, so nothing can be trained on it; "
                          "choose 'auto', 'cpu' or 'cuda'")  # fmt: skip
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            build = ("this torch is a CPU-only build" if torch.version.cuda is None
                     else "no CUDA GPU is visible")  # fmt: skip
            raise AimCLRError(f"device {str(device)!r} needs CUDA, but {build}; use 'auto' or "
                              "'cpu'")  # fmt: skip
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise AimCLRError(f"device {str(device)!r}: this machine has {count} CUDA "
                              f"device(s), cuda:0 to cuda:{count - 1}")  # fmt: skip
        return resolved
    try:  # any other backend: a tensor of no elements tells whether it works here
        torch.empty(0, device=resolved)
    except (RuntimeError, AssertionError, AttributeError):
        raise AimCLRError(f"device {str(device)!r} is not available on this machine; use "
                          "'auto' or 'cpu'") from None  # fmt: skip
    return resolved


def setup_runtime(
    device: str | torch.device = "auto", amp: AmpMode = "auto", threads: int | None = None
) -> Runtime:
    """Pick the device, join the process group under ``torchrun``, choose autocast.

    With ``WORLD_SIZE > 1`` in the environment (as ``torchrun`` sets it) the process
    joins the default group (NCCL on CUDA, gloo on the CPU) and a CUDA device
    becomes ``cuda:LOCAL_RANK``.

    Args:
        device: ``"auto"`` (CUDA when available, else the CPU) or any device.
        amp: ``"auto"`` (bfloat16 on CUDA, off elsewhere), ``"off"``, ``"bf16"``
            or ``"fp16"`` (train with :meth:`Runtime.grad_scaler`).
        threads: CPU threads for :func:`torch.set_num_threads`; ``None`` keeps them.

    Returns:
        The :class:`Runtime` of this process.

    Raises:
        AimCLRError: an unknown ``amp``, a ``threads`` below 1, or a device this
            machine cannot use (:func:`resolve_device`), before any setting changes.

    Example:
        >>> runtime = setup_runtime("cpu", amp="off")
        >>> runtime.device, runtime.world_size, runtime.amp_dtype
        (device(type='cpu'), 1, None)
    """
    if amp not in AMP_MODES:
        raise AimCLRError(f"amp must be one of {AMP_MODES}, got {amp!r}")
    if threads is not None and (isinstance(threads, bool) or threads < 1):
        raise AimCLRError(f"threads must be None or an int >= 1, got {threads!r}")
    resolved = resolve_device(device)
    if threads:
        torch.set_num_threads(threads)
    rank, world_size = 0, 1
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        if resolved.type == "cuda":
            resolved = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(resolved)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo")
        rank, world_size = dist.get_rank(), dist.get_world_size()
    amp_dtype = _AMP_DTYPES.get(amp)
    if amp == "auto":
        amp_dtype = torch.bfloat16 if resolved.type == "cuda" else None
    return Runtime(resolved, rank, world_size, amp_dtype)
