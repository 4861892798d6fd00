"""Weighted k-nearest-neighbour classification (the SimSiam ``knn_monitor`` rule)."""

from __future__ import annotations

import numbers

import torch
from torch import nn

from aimclr._checks import check_int, check_positive, check_tensor, describe
from aimclr.data.sizes import check_knn_k
from aimclr.errors import AimCLRError
from aimclr.eval._data import (
    check_labels,
)


def _check_finite(feats: torch.Tensor, name: str) -> None:
    if feats.device.type == "meta":
        raise AimCLRError(f"{name} on the meta device hold no values to compare, got "
                          f"{describe(feats)} on meta")
    finite = torch.isfinite(feats)
    if bool(finite.all()):
        return
    bad_rows = torch.nonzero(~finite.all(dim=1)).flatten()
    raise AimCLRError(
        f"{name} ({describe(feats)}) holds {int((~finite).sum())} NaN or infinite values in "
        f"{len(bad_rows)} of {feats.shape[0]} rows (first rows {bad_rows[:5].tolist()}); "
        "the encoder diverged or its input holds NaN, so no accuracy can be computed"
    )


def _check_knn_inputs(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    test_feats: torch.Tensor,
    k: int,
    temperature: float,
) -> None:
    for name, t in (("train_feats", train_feats), ("test_feats", test_feats)):
        if not isinstance(t, torch.Tensor) or t.dim() != 2 or not t.is_floating_point():
            got = describe(t) if isinstance(t, torch.Tensor) else type(t).__name__
            raise AimCLRError(f"{name} must be a floating tensor (N, D), got {got}")
    if train_feats.shape[0] == 0:
        raise AimCLRError("train_feats is empty; kNN needs at least one training sample")
    if train_feats.shape[1] != test_feats.shape[1]:
        raise AimCLRError(
            f"train_feats (N_train, D) and test_feats (N_test, D) must share D, got "
            f"{tuple(train_feats.shape)} and {tuple(test_feats.shape)}"
        )
    check_tensor(train_labels, "train_labels")
    if train_labels.shape != (train_feats.shape[0],) or train_labels.is_floating_point() or (
        train_labels.is_complex() or train_labels.dtype == torch.bool
    ):
        raise AimCLRError(
            f"train_labels must be integer (N_train,) = ({train_feats.shape[0]},), got "
            f"{describe(train_labels)}"
        )
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise AimCLRError(f"k must be an integer >= 1, got {k!r}")
    check_positive(temperature, "temperature")
    _check_finite(train_feats, "train_feats (N_train, D)")
    _check_finite(test_feats, "test_feats (N_test, D)")


def knn_scores(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    test_feats: torch.Tensor,
    k: int = 200,
    temperature: float = 0.1,
    num_classes: int | None = None,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """Weighted kNN class scores (the SimSiam ``knn_monitor`` rule).

    Features are L2-normalised; for each test sample the ``k`` training samples
    of highest cosine similarity ``s`` vote for their class with weight
    ``exp(s / temperature)``. ``k`` larger than ``N_train`` is clipped to
    ``N_train`` (small labelled sets would otherwise fail); that, and ``k`` larger
    than the smallest class of ``train_labels``, raise a
    :class:`~aimclr.errors.SmallDataWarning` with the numbers
    (:func:`aimclr.data.check_knn_k`). Test rows are processed
    ``chunk_size`` at a time, so memory is ``O(chunk_size * N_train)``. The votes are
    computed in float32, or float64 if either feature tensor is float64: half
    precision would overflow (one vote reaches ``exp(1 / 0.1) = 2.2e4``).

    Args:
        train_feats: ``(N_train, D)``.
        train_labels: ``(N_train,)`` integer classes.
        test_feats: ``(N_test, D)``; its floating dtype may differ from ``train_feats``'.
        k: neighbours that vote (``1`` = nearest neighbour).
        temperature: ``tau > 0`` of the vote weights.
        num_classes: ``K``; ``None`` uses ``max(train_labels) + 1``.
        chunk_size: test rows per similarity block.

    Returns:
        ``(N_test, K)`` summed vote weights (float32, or float64).

    Warns:
        SmallDataWarning: ``k`` exceeds ``N_train`` or the smallest training class.

    Raises:
        AimCLRError: shape mismatches, empty training set, ``k < 1``,
            non-positive temperature, labels not integers in ``[0, K)``, or NaN
            or infinite features.
    """
    _check_knn_inputs(train_feats, train_labels, test_feats, k, temperature)
    chunk_size = check_int(chunk_size, "chunk_size")
    k = int(k)  # a NumPy integer passed the check
    if num_classes is not None:
        check_int(num_classes, "num_classes")
    num_classes = int(train_labels.max()) + 1 if num_classes is None else num_classes
    check_labels(train_labels, num_classes, "train_labels (N_train,)")
    check_knn_k(k, train_labels, stacklevel=3)
    k = min(k, train_feats.shape[0])
    # One vote reaches exp(1 / 0.1) = 2.2e4: sums overflow float16 (max 65504) and
    # bfloat16 rounds them coarsely, so vote in float32 at least (float64 stays).
    dtype = torch.promote_types(torch.promote_types(train_feats.dtype, test_feats.dtype),
                                torch.float32)
    bank = nn.functional.normalize(train_feats.to(dtype), dim=1)
    labels = train_labels.to(bank.device)
    out = []
    for query in torch.split(test_feats.to(bank.device, dtype), chunk_size):
        sim = nn.functional.normalize(query, dim=1) @ bank.T  # (B, N_train)
        top_sim, top_idx = sim.topk(k, dim=1)  # (B, k)
        weights = (top_sim / temperature).exp()
        scores = torch.zeros(len(query), num_classes, device=bank.device, dtype=weights.dtype)
        out.append(scores.scatter_add_(1, labels[top_idx], weights))
    if not out:
        return torch.zeros(0, num_classes, device=bank.device, dtype=bank.dtype)
    return torch.cat(out)


def knn_predict(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    test_feats: torch.Tensor,
    k: int = 200,
    temperature: float = 0.1,
    num_classes: int | None = None,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """Predicted class ``(N_test,)`` of :func:`knn_scores` (ties: lowest class).

    Args:
        train_feats: ``(N_train, D)``.
        train_labels: ``(N_train,)`` integer classes.
        test_feats: ``(N_test, D)``.
        k: neighbours that vote (``1`` = nearest neighbour).
        temperature: ``tau > 0`` of the vote weights.
        num_classes: ``K``; ``None`` uses ``max(train_labels) + 1``.
        chunk_size: test rows per similarity block.

    Returns:
        ``(N_test,)`` int64 classes in ``[0, K)``.

    Warns:
        SmallDataWarning: see :func:`knn_scores`.

    Raises:
        AimCLRError: see :func:`knn_scores`.

    Example:
        >>> train = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
        >>> knn_predict(train, torch.tensor([0, 0, 1]), torch.tensor([[0.1, 1.0]]), k=1)
        tensor([1])
    """
    scores = knn_scores(
        train_feats, train_labels, test_feats, k, temperature, num_classes, chunk_size
    )
    return scores.argmax(dim=1)


def knn_accuracy(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    test_feats: torch.Tensor,
    test_labels: torch.Tensor,
    k: int = 200,
    temperature: float = 0.1,
    num_classes: int | None = None,
    chunk_size: int = 1024,
) -> float:
    """Top-1 accuracy in ``[0, 1]`` of :func:`knn_predict`.

    Args:
        train_feats: ``(N_train, D)``.
        train_labels: ``(N_train,)`` integer classes.
        test_feats: ``(N_test, D)`` with ``N_test >= 1``.
        test_labels: ``(N_test,)`` integer classes, in ``[0, num_classes)`` when
            ``num_classes`` is given (without it a test class absent from the
            training set is allowed: it is never predicted).
        k: neighbours that vote (``1`` = nearest neighbour).
        temperature: ``tau > 0`` of the vote weights.
        num_classes: ``K``; ``None`` uses ``max(train_labels) + 1``.
        chunk_size: test rows per similarity block.

    Warns:
        SmallDataWarning: ``k`` exceeds ``N_train`` or the smallest training class
            (see :func:`knn_scores`); the accuracy then understates the features.

    Raises:
        AimCLRError: bad test labels or see :func:`knn_scores` (NaN features included).
    """
    check_tensor(test_labels, "test_labels")
    check_tensor(test_feats, "test_feats")
    if test_labels.shape != (test_feats.shape[0],) or test_feats.shape[0] == 0:
        raise AimCLRError(
            f"test_labels must be (N_test,) with N_test = {test_feats.shape[0]} >= 1, got "
            f"{describe(test_labels)}"
        )
    check_labels(test_labels, num_classes, "test_labels (N_test,)")
    pred = knn_predict(train_feats, train_labels, test_feats, k, temperature, num_classes,
                       chunk_size)
    return float((pred == test_labels.to(pred.device)).float().mean())
