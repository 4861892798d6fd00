"""Querying autocast across torch versions (the calls took a device type from 2.4 on)."""

from __future__ import annotations

import contextlib

import torch


def autocast_dtype(device_type: str) -> torch.dtype | None:
    """The autocast dtype active for ``device_type`` ("cpu", "cuda", …), else None."""
    try:
        enabled = torch.is_autocast_enabled(device_type)
    except RuntimeError:  # a device type without autocast (e.g. "meta")
        return None
    except TypeError:  # torch < 2.4: no argument means CUDA; the CPU has its own calls
        if device_type == "cpu":
            enabled = torch.is_autocast_cpu_enabled()
            return torch.get_autocast_cpu_dtype() if enabled else None
        enabled = device_type == "cuda" and torch.is_autocast_enabled()
        return torch.get_autocast_gpu_dtype() if enabled else None
    return torch.get_autocast_dtype(device_type) if enabled else None


def no_autocast(device_type: str) -> contextlib.AbstractContextManager[object]:
    """A context that switches autocast off for ``device_type`` where torch has one."""
    if device_type in ("cpu", "cuda"):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()
