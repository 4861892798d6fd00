"""The raw-coordinate Euclidean 1-NN baseline."""

from __future__ import annotations

import pytest
import torch

from aimclr import AimCLRError, to_motion
from aimclr.eval import euclidean_1nn_accuracy, raw_1nn_accuracy


def test_euclidean_1nn_against_a_hand_written_loop() -> None:
    generator = torch.Generator().manual_seed(0)
    train_x, test_x = torch.randn(30, 4, generator=generator), torch.randn(17, 4,
                                                                             generator=generator)
    train_y, test_y = torch.randint(0, 3, (30,), generator=generator), torch.randint(
        0, 3, (17,), generator=generator)  # fmt: skip
    nearest = [min(range(30), key=lambda j: float((test_x[i] - train_x[j]).norm()))
               for i in range(17)]  # fmt: skip
    expected = sum(int(train_y[j] == test_y[i]) for i, j in enumerate(nearest)) / 17
    assert euclidean_1nn_accuracy(train_x, train_y, test_x, test_y, chunk_size=5) == expected
    # Lengths count, unlike cosine kNN: (1, 0) is nearer (2, 0) than (10, 0) is.
    points = torch.tensor([[2.0, 0.0], [10.0, 0.0]])
    assert euclidean_1nn_accuracy(points, torch.tensor([0, 1]), torch.tensor([[1.0, 0.0]]),
                                  torch.tensor([0])) == 1.0  # fmt: skip


def test_euclidean_1nn_errors() -> None:
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
    with pytest.raises(AimCLRError, match=r"test_x must be \(N, D\) and test_y \(N,\)"):
        euclidean_1nn_accuracy(x, y, x[:2], y)
    with pytest.raises(AimCLRError, match="must share D"):
        euclidean_1nn_accuracy(x, y, torch.randn(4, 2), y)
    with pytest.raises(AimCLRError, match="integer class indices"):
        euclidean_1nn_accuracy(x, y.float(), x, y)


def test_raw_1nn_flattens_the_transformed_coordinates() -> None:
    generator = torch.Generator().manual_seed(1)
    train_x, test_x = (torch.randn(n, 3, 5, 25, 1, generator=generator) for n in (12, 7))
    train_y, test_y = torch.arange(12) % 3, torch.arange(7) % 3
    expected = euclidean_1nn_accuracy(to_motion(train_x).flatten(1), train_y,
                                      to_motion(test_x).flatten(1), test_y)  # fmt: skip
    got = raw_1nn_accuracy((train_x, train_y), (test_x, test_y), transform=to_motion,
                           batch_size=5)  # fmt: skip
    assert got == expected
    assert raw_1nn_accuracy((train_x, train_y), (train_x, train_y)) == 1.0
    with pytest.raises(AimCLRError, match="is empty"):
        raw_1nn_accuracy((train_x[:0], train_y[:0]), (test_x, test_y))
