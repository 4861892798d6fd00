"""Pooled encoder features of a data set, for kNN and linear probes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from aimclr._checks import check_device, check_int, check_module, describe
from aimclr.errors import AimCLRError
from aimclr.eval._data import (
    Data,
    as_dataset,
    check_labels,
    dataset_len,
    float_dtype,
    module_device,
    restore_modes,
    sample_pair,
    training_modes,
)


@torch.no_grad()
def extract_features(
    encoder: nn.Module,
    data: torch.Tensor | Data | Iterable[Any],
    device: torch.device | str | None = None,
    batch_size: int = 256,
    labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run ``encoder`` over a data set in eval mode without gradients.

    The encoder is switched to eval mode for the pass and the mode of each of its
    submodules restored afterwards. Inputs are cast to the dtype of the encoder's
    floating parameters (float32 for an encoder without any).

    Args:
        encoder: any module mapping ``(B, C, T, V, M)`` to ``(B, D)``.
        data: a tensor ``(N, C, T, V, M)``, a dataset of ``(x, label)``, an
            ``(x, labels)`` tuple, or an iterable of ``(x, labels)`` batches
            (e.g. a :class:`~torch.utils.data.DataLoader`).
        device: where to compute; ``None`` uses the encoder's device.
        batch_size: batch size for tensors and datasets.
        labels: ``(N,)`` labels to return with a tensor ``data``.

    Returns:
        ``(features (N, D), labels (N,) or None)`` on ``device``; labels are
        ``None`` only for a tensor without ``labels``.

    Raises:
        AimCLRError: ``encoder`` is not a module, bad batch size, data of another
            type or empty, labels that are not integers ``>= 0``, or an encoder output
            that is not ``(B, D)``.

    Example:
        >>> enc = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 25 * 1, 8))
        >>> feats, _ = extract_features(enc, torch.randn(5, 3, 4, 25, 1))
        >>> tuple(feats.shape)
        (5, 8)
    """
    check_module(encoder, "encoder")
    check_int(batch_size, "batch_size")
    if isinstance(data, np.ndarray):
        raise AimCLRError(
            f"data must be a tensor (N, C, T, V, M), got a NumPy array of shape {data.shape}; "
            "convert it with torch.from_numpy"
        )
    if not isinstance(data, (torch.Tensor, tuple, Dataset, Iterable)) or isinstance(data, str):
        raise AimCLRError(
            "data must be a tensor (N, C, T, V, M), a Dataset, an (x, labels) tuple or an "
            f"iterable of (x, labels) batches, got {type(data).__name__}"
        )
    device = check_device(device) or module_device(encoder)
    batches: Iterable[Any]
    if isinstance(data, torch.Tensor):
        if data.dim() != 5:
            raise AimCLRError(f"data must have layout (N, C, T, V, M), got {describe(data)}")
        if labels is not None and labels.shape != (data.shape[0],):
            raise AimCLRError(
                f"labels must be (N,) with N = {data.shape[0]}, got {describe(labels)}"
            )
        if labels is not None:
            check_labels(labels, None, "labels (N,)")
        batches = [(chunk, None) for chunk in torch.split(data, batch_size)]
    elif isinstance(data, (tuple, Dataset)):
        dataset = as_dataset(data, "data")
        dataset_len(dataset, "data")
        batches = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    else:
        batches = data
    dtype = float_dtype(encoder)
    modes = training_modes(encoder)
    encoder.eval()
    feats: list[torch.Tensor] = []
    targets: list[torch.Tensor] = []
    try:
        for batch in batches:
            x, y = sample_pair(batch, "data")
            if not isinstance(x, torch.Tensor):
                raise AimCLRError(
                    f"data batches must hold tensors x (B, C, T, V, M), got "
                    f"{type(x).__name__}; convert NumPy arrays with torch.from_numpy"
                )
            out = encoder(x.to(device, dtype))
            if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != len(x):
                got = describe(out) if isinstance(out, torch.Tensor) else type(out).__name__
                raise AimCLRError(
                    f"encoder must map (B, C, T, V, M) to features (B, D); for input "
                    f"{describe(x)} it returned {got}"
                )
            feats.append(out)
            if y is not None:
                y = torch.as_tensor(y)
                check_labels(y, None, "data labels")  # a float label would be truncated
                targets.append(y.to(device, torch.long))
    finally:
        restore_modes(modes)
    if not feats:
        raise AimCLRError("data is empty; at least one sample is needed")
    if isinstance(data, torch.Tensor):
        return torch.cat(feats), None if labels is None else labels.to(device, torch.long)
    return torch.cat(feats), torch.cat(targets) if targets else None
