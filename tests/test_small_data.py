"""Small data: kNN's k and the queue size against the data, and non-finite kNN features."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from aimclr import AimCLRError
from aimclr.data import check_knn_k, check_queue_size
from aimclr.errors import AimCLRWarning, SmallDataWarning
from aimclr.eval import knn_accuracy, knn_scores


def _bank(counts: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    labels = torch.cat([torch.full((c,), i) for i, c in enumerate(counts)])
    centres = torch.eye(8)[: len(counts)] * 3
    return centres[labels] + torch.randn(len(labels), 8, generator=gen), labels


def test_knn_warns_when_k_exceeds_the_bank_and_clamps() -> None:
    feats, labels = _bank([60, 40])
    query = feats[:7] + 0.1
    with pytest.warns(SmallDataWarning, match=r"kNN k = 200 exceeds the N = 100 samples of the "
                      r"bank and is clamped to 100.*Choose k <= 40, the size of the smallest"):
        big = knn_scores(feats, labels, query, k=200)
    with pytest.warns(SmallDataWarning, match="exceeds the smallest class"):
        clamped = knn_scores(feats, labels, query, k=100)
    assert torch.equal(big, clamped)
    assert issubclass(SmallDataWarning, AimCLRWarning) and issubclass(SmallDataWarning, UserWarning)


def test_knn_warns_when_k_exceeds_the_smallest_class() -> None:
    feats, labels = _bank([50, 30, 12])
    with pytest.warns(SmallDataWarning, match=r"kNN k = 20 exceeds the smallest class of the "
                      r"bank \(class 2: 12 of N = 92 samples\): a test sample of that class gets "
                      r"at most 12 of its 20 votes"):
        knn_accuracy(feats, labels, feats[:5], labels[:5], k=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        knn_accuracy(feats, labels, feats[:5], labels[:5], k=12)  # no warning at the limit


def test_check_knn_k_and_queue_size_numbers() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_knn_k(5, np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])) is False
        assert check_queue_size(100, 100) is False
    with pytest.warns(SmallDataWarning, match=r"the queue holds K = 32768 keys but the training "
                      r"set only N = 100 samples: every sample is its own negative about 328 "
                      r"times over \(K / N\)\. Choose a queue size below 100"):
        assert check_queue_size(32768, 100) is True
    with pytest.warns(SmallDataWarning, match=r"k = 3 exceeds the N = 2 samples"):
        check_knn_k(3, torch.tensor([0, 1]))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(AimCLRError, match="must be an integer >= 1"):
            check_queue_size(bad, 10)  # type: ignore[arg-type]
        with pytest.raises(AimCLRError, match="must be an integer >= 1"):
            check_knn_k(bad, [0, 1])  # type: ignore[arg-type]
    with pytest.raises(AimCLRError, match=r"labels must be a non-empty 1-D integer array"):
        check_knn_k(1, np.array([0.5, 1.0]))


@pytest.mark.parametrize("where", ["train", "test"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_knn_refuses_nonfinite_features(where: str, value: float) -> None:
    feats, labels = _bank([10, 10])
    train, test = feats.clone(), feats[:4].clone()
    (train if where == "train" else test)[1:3, 2] = value
    with pytest.raises(AimCLRError, match=rf"{where}_feats \(N_{where}, D\) .* holds 2 NaN or "
                       r"infinite values in 2 of \d+ rows \(first rows \[1, 2\]\)"):
        knn_accuracy(train, labels, test, labels[:4], k=1)


def test_knn_refuses_all_nan_features() -> None:
    nan = torch.full((6, 4), float("nan"))
    with pytest.raises(AimCLRError, match="holds 24 NaN or infinite values in 6 of 6 rows"):
        knn_accuracy(nan, torch.tensor([0, 0, 0, 1, 1, 1]), nan, torch.tensor([0, 0, 0, 1, 1, 1]),
                     k=1)
