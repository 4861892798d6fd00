"""Shared checks and helpers of the evaluation modules (data arguments, labels, modes)."""

from __future__ import annotations

from typing import Any, TypeAlias

import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from aimclr._checks import describe
from aimclr.errors import AimCLRError

Data: TypeAlias = "Dataset[Any] | tuple[torch.Tensor, torch.Tensor]"
"""A data argument: a dataset of ``(x, label)`` pairs or an ``(x, labels)`` tuple."""


def module_device(module: nn.Module) -> torch.device:
    for param in module.parameters():
        return param.device
    for buffer in module.buffers():
        return buffer.device
    return torch.device("cpu")


def float_dtype(module: nn.Module) -> torch.dtype:
    """The dtype inputs must have for ``module``: its first floating parameter's, else float32."""
    for param in module.parameters():
        if param.is_floating_point():
            return param.dtype
    return torch.float32


def training_modes(module: nn.Module) -> dict[nn.Module, bool]:
    """The train/eval flag of every submodule, for :func:`restore_modes`."""
    return {m: m.training for m in module.modules()}


def restore_modes(modes: dict[nn.Module, bool]) -> None:
    # Set the flags directly: ``train(mode)`` recurses and would flatten mixed modes
    # (e.g. a BatchNorm the caller froze in eval mode inside a training model).
    for m, mode in modes.items():
        m.training = mode


def check_labels(labels: torch.Tensor, num_classes: int | None, name: str) -> None:
    """Raise unless ``labels`` are integer (not bool) classes in ``[0, num_classes)``.

    ``num_classes=None`` checks the dtype and ``labels >= 0`` only.
    """
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise AimCLRError(f"{name} must be integer class indices, got {describe(labels)}")
    if labels.numel() == 0:
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or (num_classes is not None and high >= num_classes):
        bound = "be >= 0" if num_classes is None else f"lie in [0, num_classes = {num_classes})"
        raise AimCLRError(
            f"{name} must {bound}, got values in [{low}, {high}] ({describe(labels)})"
        )


def sample_pair(sample: object, name: str) -> tuple[Any, Any]:
    """``sample`` as ``(x, label)``; raise unless it is such a pair (tuple or list)."""
    if not isinstance(sample, (tuple, list)) or len(sample) != 2:
        got = type(sample).__name__ + (f" of length {len(sample)}"
                                       if isinstance(sample, (tuple, list)) else "")  # fmt: skip
        raise AimCLRError(f"{name} must yield (x, label) pairs, got a {got}")
    return sample[0], sample[1]


def check_samples(data: Dataset[Any], name: str, num_classes: int) -> None:
    """Check ``x`` is floating and labels are valid classes before any training.

    All labels are checked when they are at hand (tensor data, or a dataset with a
    ``labels`` tensor); otherwise the first sample here, and :func:`_fit` and
    :func:`_predict` check every batch as it is read.
    """
    sample = data[0]  # once: a transform may be random or slow
    x, y = torch.as_tensor(sample_pair(sample, name)[0]), sample[1]
    if not x.is_floating_point():
        raise AimCLRError(
            f"{name} x must be a floating tensor (N, C, T, V, M), got samples of {describe(x)}"
        )
    if isinstance(data, TensorDataset) and len(data.tensors) == 2:
        labels = data.tensors[1]
    elif isinstance(getattr(data, "labels", None), torch.Tensor):
        labels = data.labels  # type: ignore[attr-defined]
    else:
        labels = torch.as_tensor(y).reshape(-1)
    check_labels(labels, num_classes, f"{name} labels (N,)")


def as_dataset(data: Data, name: str) -> Dataset[Any]:
    if isinstance(data, tuple):
        if len(data) != 2 or not all(isinstance(t, torch.Tensor) for t in data):
            raise AimCLRError(f"{name} must be a Dataset or an (x, labels) tuple of tensors")
        x, y = data
        if x.dim() != 5 or y.dim() != 1 or x.shape[0] != y.shape[0]:
            raise AimCLRError(
                f"{name} must be (x (N, C, T, V, M), labels (N,)), got x {describe(x)}, "
                f"labels {describe(y)}"
            )
        return TensorDataset(x, y)
    if not isinstance(data, Dataset):
        raise AimCLRError(f"{name} must be a Dataset or an (x, labels) tuple, got {type(data)}")
    return data


def dataset_len(data: Dataset[Any], name: str) -> int:
    size = len(data)  # type: ignore[arg-type]
    if size == 0:
        raise AimCLRError(f"{name} is empty; at least one sample is needed")
    return size
