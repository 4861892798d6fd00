"""A kNN monitor: how well the encoder's features separate the classes, during training."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from aimclr._checks import check_int, check_labelled_sample, check_positive
from aimclr.data.sizes import check_knn_k
from aimclr.errors import AimCLRError, SmallDataWarning
from aimclr.eval.features import extract_features
from aimclr.eval.knn import knn_accuracy, knn_predict

__all__ = ["KNNMonitor"]


class KNNMonitor:
    """kNN accuracy of an encoder's pooled features on a labelled train / test split.

    The features of both sets are extracted without augmentation, in eval mode and
    without gradients (:func:`~aimclr.eval.features.extract_features`); every ``k``
    gives the accuracy of :func:`~aimclr.eval.knn.knn_accuracy`: cosine similarity,
    the ``k`` most similar training samples voting with weight ``exp(sim /
    temperature)`` (the SimSiam ``knn_monitor`` of the reference code). Labels are
    used here only, never by pre-training.

    A ``k`` larger than the training set or its smallest class gives a
    :class:`~aimclr.errors.SmallDataWarning` once per monitor (at its first call),
    not at every measurement.

    Args:
        train: data set of ``(x (C, T, V, M), label)``; the memory bank.
        test: data set of ``(x, label)`` to classify.
        num_classes: ``K``; labels lie in ``[0, K)``.
        every: :meth:`due` every this many epochs; 0 = never.
        transform: applied to every batch ``(B, C, T, V, M)`` (as float32) before the
            encoder, e.g. ``functools.partial(aimclr.to_stream, stream="bone")``.
        ks: neighbour counts; the result has a key ``f"knn{k}"`` for each.
        temperature: vote temperature.
        batch_size: samples per forward pass.
        device: where the encoder runs; ``None`` = the encoder's device.

    Attributes:
        best_key: the score a trainer keeps its best checkpoint by:
            ``f"knn{min(ks)}"``, the smallest ``k``, which stays meaningful on
            data sets too small for the others.

    Raises:
        AimCLRError: ``num_classes``, ``batch_size`` or a ``k`` below 1, ``every``
            below 0, a temperature that is not positive, or a data set that is
            empty or whose first sample is not an ``(x, label, ...)`` pair.

    Example:
        >>> from aimclr.data import SyntheticActionDataset
        >>> data = SyntheticActionDataset(24, num_frames=8)
        >>> monitor = KNNMonitor(data, data, num_classes=12, every=2, ks=(1,))
        >>> monitor.due(1), monitor.due(2), monitor.due(3, last_epoch=3)
        (False, True, True)
        >>> monitor(torch.nn.Flatten())  # raw coordinates: each sample is its own neighbour
        {'knn1': 1.0}
    """

    def __init__(
        self,
        train: Dataset[Any],
        test: Dataset[Any],
        num_classes: int,
        *,
        every: int = 1,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        ks: Sequence[int] = (200, 1),
        temperature: float = 0.1,
        batch_size: int = 256,
        device: torch.device | str | None = None,
    ) -> None:
        for value, name, minimum in ((num_classes, "num_classes", 1), (every, "every", 0),
                                     (batch_size, "batch_size", 1),
                                     *((k, "each k in ks", 1) for k in ks)):  # fmt: skip
            check_int(value, name, minimum)
        check_positive(temperature, "temperature")
        _check_labelled(train, "train")
        _check_labelled(test, "test")
        self.train, self.test = train, test
        self.num_classes = num_classes
        self.every = every
        self.transform = transform
        self.ks = tuple(ks)
        self.temperature = temperature
        self.batch_size = batch_size
        self.device = device
        self.best_key = f"knn{min(self.ks)}" if self.ks else None
        self._warned = False

    def due(self, epoch: int, last_epoch: int | None = None) -> bool:
        """Whether to measure after ``epoch``: every ``every`` epochs and after the last."""
        return bool(self.every) and (epoch % self.every == 0 or epoch == last_epoch)

    def features(
        self, encoder: nn.Module
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pooled features and labels of both sets, on the CPU.

        Returns:
            ``(train_x (N_train, D), train_y (N_train,), test_x (N_test, D),
            test_y (N_test,))``.
        """
        train_x, train_y = self._extract(encoder, self.train)
        test_x, test_y = self._extract(encoder, self.test)
        return train_x, train_y, test_x, test_y

    def __call__(self, encoder: nn.Module) -> dict[str, float]:
        """The accuracy in ``[0, 1]`` for every ``k``, by ``f"knn{k}"``."""
        train_x, train_y, test_x, test_y = self.features(encoder)
        self._warn_once(train_y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmallDataWarning)  # said once, above
            return {
                f"knn{k}": knn_accuracy(train_x, train_y, test_x, test_y, k=k,
                                        temperature=self.temperature,
                                        num_classes=self.num_classes)
                for k in self.ks
            }  # fmt: skip

    def predict(
        self, encoder: nn.Module, k: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """kNN predictions of the test set, e.g. for a confusion matrix.

        Args:
            encoder: the encoder.
            k: neighbours that vote; ``None`` = the smallest of ``ks``.

        Returns:
            ``(predictions (N_test,), labels (N_test,))``, int64 on the CPU.
        """
        train_x, train_y, test_x, test_y = self.features(encoder)
        self._warn_once(train_y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmallDataWarning)
            predictions = knn_predict(train_x, train_y, test_x, k=k or min(self.ks, default=1),
                                      temperature=self.temperature,
                                      num_classes=self.num_classes)  # fmt: skip
        return predictions, test_y

    def _warn_once(self, train_labels: torch.Tensor) -> None:
        if not self._warned:
            self._warned = True
            for k in self.ks:
                check_knn_k(k, train_labels, stacklevel=4)

    def _extract(self, encoder: nn.Module, dataset: Dataset[Any]
                 ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        feats, labels = extract_features(encoder, self._batches(dataset), device=self.device)
        if labels is None:
            raise AimCLRError("the kNN monitor needs labelled (x, label) samples")
        return feats.cpu(), labels.cpu()

    def _batches(self, dataset: Dataset[Any]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for batch in DataLoader(dataset, batch_size=self.batch_size):
            x, y = batch[0].float(), batch[1]  # further items (e.g. indices) are not used
            yield (x if self.transform is None else self.transform(x)), y


def _check_labelled(dataset: Dataset[Any], name: str) -> None:
    """Raise unless ``dataset`` is non-empty and its first sample is ``(x, label, ...)``."""
    try:
        size = len(dataset)  # type: ignore[arg-type]
    except TypeError:
        raise AimCLRError(
            f"{name} must be a map-style data set with a length, got {type(dataset).__name__}"
        ) from None
    if size == 0:
        raise AimCLRError(f"{name} is empty: the kNN monitor needs labelled (x, label) samples")
    check_labelled_sample(dataset[0], name, ": pre-training needs no labels, the kNN "
                          "monitor does; pass it a labelled data set")  # fmt: skip
