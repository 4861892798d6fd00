"""Warnings for settings that outgrow a small data set.

The reference settings were chosen for NTU RGB+D (40 000 training sequences):
a queue of ``K = 32768`` negatives and kNN with ``k = 200``. On a set of a few
hundred sequences they still run, but they measure something else, so these
checks say so with the numbers (a :class:`~aimclr.errors.SmallDataWarning`);
they never change a setting and never raise for a valid one.

* :func:`check_queue_size`: the queue holds more keys than there are training
  samples, so every sample is its own negative many times over.
* :func:`check_knn_k`: ``k`` exceeds the kNN bank (it is clamped to the bank
  size) or its smallest class (that class cannot win a vote it should win).
  :func:`aimclr.eval.knn_scores` calls it on every evaluation.
* :func:`check_class_coverage`: a split whose test side holds classes that the
  training side lacks (no classifier trained on it can name them), or whose
  training side holds a single class.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch

from aimclr.errors import AimCLRError, SmallDataWarning

__all__ = ["check_class_coverage", "check_knn_k", "check_queue_size"]


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise AimCLRError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def check_queue_size(queue_size: int, num_samples: int, stacklevel: int = 2) -> bool:
    """Warn when the negative queue is longer than the training set.

    A MoCo-style queue holds the keys of the last ``K`` samples. With ``K``
    larger than the ``N`` training samples it holds each sample's own key
    about ``K / N`` times, from older encoder states: every query meets copies of
    its own positive among the negatives, ``K / N`` times over. Choose ``K``
    below ``N``.

    Args:
        queue_size: ``K``, keys in the queue.
        num_samples: ``N``, samples in the training set.
        stacklevel: passed to :func:`warnings.warn` (2 points at the caller).

    Returns:
        ``True`` when it warned.

    Warns:
        SmallDataWarning: ``K > N``, with both numbers and the ratio.

    Raises:
        AimCLRError: ``queue_size`` or ``num_samples`` not an integer >= 1.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     check_queue_size(32768, 100)
        True
        >>> print(caught[0].message)  # doctest: +ELLIPSIS
        the queue holds K = 32768 keys but the training set only N = 100 samples: every sample is its own negative about 328 times over...
    """  # noqa: E501
    k = _positive_int(queue_size, "queue_size")
    n = _positive_int(num_samples, "num_samples")
    if k <= n:
        return False
    warnings.warn(
        f"the queue holds K = {k} keys but the training set only N = {n} samples: every "
        f"sample is its own negative about {k / n:.3g} times over (K / N). Choose a queue "
        f"size below {n}",
        SmallDataWarning,
        stacklevel=stacklevel,
    )
    return True


def check_knn_k(
    k: int, labels: torch.Tensor | np.ndarray | Sequence[int], stacklevel: int = 2
) -> bool:
    """Warn when kNN's ``k`` exceeds the bank of training samples or its smallest class.

    The weighted kNN rule (:func:`aimclr.eval.knn_scores`) lets the ``k`` most
    similar training samples vote. With ``k`` above the bank size ``N`` it is
    clamped to ``N``: every test sample is voted on by the whole bank and the
    result leans towards the most frequent classes. With ``k`` above the smallest class's
    count ``n_min`` a test sample of that class gets at most ``n_min`` of its ``k``
    votes from its own class, even with perfect features.

    Args:
        k: neighbours that vote.
        labels: ``(N,)`` integer classes of the bank (the kNN training set).
        stacklevel: passed to :func:`warnings.warn` (2 points at the caller).

    Returns:
        ``True`` when it warned.

    Warns:
        SmallDataWarning: ``k > N`` (then ``k`` is used as ``N``), or
        ``k > n_min`` with the class and its count.

    Raises:
        AimCLRError: ``k`` not an integer >= 1, or labels not a non-empty 1-D
            integer array.
    """
    k = _positive_int(k, "k")
    arr = _class_array(labels, "labels")
    n = int(arr.size)
    classes, counts = np.unique(arr, return_counts=True)
    smallest = int(np.argmin(counts))
    n_min, c_min = int(counts[smallest]), int(classes[smallest])
    if k > n:
        message = (
            f"kNN k = {k} exceeds the N = {n} samples of the bank and is clamped to {n}: "
            f"every test sample is voted on by the whole bank, so the accuracy leans "
            f"towards the frequent classes"
        )
    elif k > n_min:
        message = (
            f"kNN k = {k} exceeds the smallest class of the bank (class {c_min}: {n_min} "
            f"of N = {n} samples): a test sample of that class gets at most {n_min} of its "
            f"{k} votes from its own class"
        )
    else:
        return False
    warnings.warn(
        f"{message}. Choose k <= {n_min}, the size of the smallest class",
        SmallDataWarning,
        stacklevel=stacklevel,
    )
    return True


def _class_array(labels: torch.Tensor | np.ndarray | Sequence[int], name: str) -> np.ndarray:
    arr = (labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor)
           else np.asarray(labels))  # fmt: skip
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise AimCLRError(
            f"{name} must be a non-empty 1-D integer array (N,), got shape {arr.shape}, "
            f"dtype {arr.dtype}"
        )
    return arr


def check_class_coverage(
    train_labels: torch.Tensor | np.ndarray | Sequence[int],
    test_labels: torch.Tensor | np.ndarray | Sequence[int],
    stacklevel: int = 2,
) -> bool:
    """Warn when a split's test side holds classes its training side lacks.

    On a few hundred sequences a split by subject, style or file easily leaves
    every sequence of a class on the test side. kNN and the linear probe learn
    from the training side only, so those test sequences are counted wrong
    whatever the features; and a training side of a single class has nothing to
    tell apart (every accuracy on such a split reads the share of that class).

    Args:
        train_labels: ``(N_train,)`` integer classes of the training side.
        test_labels: ``(N_test,)`` integer classes of the test side.
        stacklevel: passed to :func:`warnings.warn` (2 points at the caller).

    Returns:
        ``True`` when it warned.

    Warns:
        SmallDataWarning: test classes missing from training (with their test
        counts and the share of the test set they make), or a single training class.

    Raises:
        AimCLRError: labels not non-empty 1-D integer arrays.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     check_class_coverage([0, 0, 1, 1], [1, 2, 2])
        True
        >>> print(caught[0].message)  # doctest: +ELLIPSIS
        the test set holds classes the training set lacks: class 2 (2 test sequences), 2 of N_test = 3 (67%)...
    """  # noqa: E501
    train = _class_array(train_labels, "train_labels")
    test = _class_array(test_labels, "test_labels")
    seen = np.unique(train)
    classes, counts = np.unique(test, return_counts=True)
    missing = ~np.isin(classes, seen)
    messages = []
    if missing.any():
        lost = int(counts[missing].sum())
        listed = ", ".join(
            f"class {int(c)} ({int(n)} test sequences)"
            for c, n in zip(classes[missing], counts[missing], strict=True)
        )
        messages.append(
            f"the test set holds classes the training set lacks: {listed}, {lost} of "
            f"N_test = {test.size} ({lost / test.size:.0%}); no classifier trained on this "
            f"split can name them, so they count as errors whatever the features"
        )
    if seen.size == 1:
        messages.append(
            f"the training set holds a single class ({int(seen[0])}, N_train = {train.size}): "
            f"there is nothing to tell apart, and every accuracy reads that class's share of "
            f"the test set"
        )
    if not messages:
        return False
    warnings.warn(
        "; ".join(messages) + ". Choose a split that keeps every class on the training "
        "side (e.g. random:FRACTION, which holds out a share of every class)",
        SmallDataWarning,
        stacklevel=stacklevel,
    )
    return True
