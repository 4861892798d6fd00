"""Baselines that need no learning: nearest neighbours in raw coordinates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from aimclr._checks import check_finite, check_floating, check_int, check_tensor, describe
from aimclr.errors import AimCLRError
from aimclr.eval._data import Data, as_dataset, check_labels, dataset_len
from aimclr.eval.features import extract_features

__all__ = ["euclidean_1nn_accuracy", "raw_1nn_accuracy"]


def euclidean_1nn_accuracy(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    chunk_size: int = 512,
) -> float:
    """Top-1 accuracy in ``[0, 1]`` of the Euclidean nearest training sample.

    Each test sample takes the label of the training sample at the smallest
    Euclidean distance (the first of equally near ones). Unlike the cosine kNN of
    :func:`~aimclr.eval.knn.knn_accuracy`, vector lengths count.

    Args:
        train_x: ``(N_train, D)`` vectors.
        train_y: ``(N_train,)`` integer labels.
        test_x: ``(N_test, D)`` vectors on the device of ``train_x``.
        test_y: ``(N_test,)`` integer labels.
        chunk_size: test samples compared at once (memory ``chunk_size × N_train``).

    Returns:
        The fraction of test samples whose nearest training sample has their label.

    Raises:
        AimCLRError: arguments that are not tensors, shapes that do not match, an
            empty set, non-floating features, or non-integer labels.
        NonFiniteInputError: features hold NaN or inf.

    Example:
        >>> train_x = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
        >>> test_x = torch.tensor([[1.0, 1.0], [9.0, 0.0], [2.0, 0.0]])
        >>> euclidean_1nn_accuracy(train_x, torch.tensor([0, 1]), test_x, torch.tensor([0, 1, 1]))
        0.6666666666666666
    """
    for x, y, name in ((train_x, train_y, "train"), (test_x, test_y, "test")):
        check_tensor(x, f"{name}_x")
        check_tensor(y, f"{name}_y")
        if x.dim() != 2 or y.dim() != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise AimCLRError(
                f"{name}_x must be (N, D) and {name}_y (N,) with N >= 1, got {name}_x "
                f"{describe(x)}, {name}_y {describe(y)}"
            )
        check_labels(y, None, f"{name}_y (N,)")
    if train_x.shape[1] != test_x.shape[1]:
        raise AimCLRError(
            f"train_x (N_train, D) and test_x (N_test, D) must share D, got "
            f"{describe(train_x)} and {describe(test_x)}"
        )
    for x, name in ((train_x, "train_x (N_train, D)"), (test_x, "test_x (N_test, D)")):
        check_floating(x, name)
    check_finite({"train_x (N_train, D)": train_x, "test_x (N_test, D)": test_x})
    chunk_size = check_int(chunk_size, "chunk_size")
    correct = 0
    for chunk, labels in zip(torch.split(test_x, chunk_size), torch.split(test_y, chunk_size),
                             strict=True):  # fmt: skip
        nearest = torch.cdist(chunk, train_x).argmin(dim=1)
        correct += int((train_y[nearest] == labels).sum())
    return correct / len(test_y)


def raw_1nn_accuracy(
    train_data: Data,
    test_data: Data,
    *,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    batch_size: int = 256,
) -> float:
    """Euclidean 1-NN accuracy on the raw coordinates: what needs no learning at all.

    Every sample ``(C, T, V, M)`` is flattened to one vector of ``C·T·V·M``
    coordinates (after ``transform``), and :func:`euclidean_1nn_accuracy` classifies
    the test set by the training set. An encoder whose features do worse than this
    has learnt nothing useful for the labels.

    Args:
        train_data: dataset of ``(x (C, T, V, M), label)`` or an ``(x, labels)``
            tuple of tensors.
        test_data: the same for the test set.
        transform: applied to every batch ``(B, C, T, V, M)`` (as float32) before
            flattening, e.g. ``functools.partial(aimclr.to_stream, stream="motion")``.
        batch_size: samples read at a time.

    Returns:
        The accuracy in ``[0, 1]``, computed on the CPU.

    Raises:
        AimCLRError: bad data arguments or empty sets.

    Example:
        >>> from aimclr.data import SyntheticActionDataset
        >>> data = SyntheticActionDataset(12, num_frames=8)
        >>> raw_1nn_accuracy(data, data)  # every sample is its own nearest neighbour
        1.0
    """
    vectors = []
    for data, name in ((train_data, "train_data"), (test_data, "test_data")):
        dataset = as_dataset(data, name)
        dataset_len(dataset, name)
        vectors.append(extract_features(nn.Flatten(), _batches(dataset, transform, batch_size),
                                        device=torch.device("cpu")))  # fmt: skip
    (train_x, train_y), (test_x, test_y) = vectors
    if train_y is None or test_y is None:
        raise AimCLRError("raw_1nn_accuracy needs labelled (x, label) samples")
    return euclidean_1nn_accuracy(train_x, train_y, test_x, test_y)


def _batches(
    dataset: Any, transform: Callable[[torch.Tensor], torch.Tensor] | None, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for x, y in DataLoader(dataset, batch_size=batch_size):
        x = x.float()
        yield (x if transform is None else transform(x)), y
