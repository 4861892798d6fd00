"""MomentumQueue: initialisation, ring semantics, validation before mutation, state."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aimclr import AimCLRError
from aimclr.nn.queue import MomentumQueue


def rows(start: int, count: int, dim: int = 2) -> torch.Tensor:
    """Rows whose first entry is their global index, so the order is visible."""
    out = torch.zeros(count, dim)
    out[:, 0] = torch.arange(start, start + count, dtype=torch.float32)
    return out


def test_initial_keys_are_unit_rows_and_pointer_is_zero() -> None:
    queue = MomentumQueue(64, 8)
    assert queue.keys.shape == (64, 8) and queue.keys.dtype == torch.float32
    torch.testing.assert_close(queue.keys.norm(dim=1), torch.ones(64))
    assert queue.ptr.dtype == torch.int64 and queue.ptr.shape == (1,) and int(queue.ptr) == 0
    assert (queue.size, queue.dim) == (64, 8)
    assert repr(queue) == "MomentumQueue(size=64, dim=8, dtype=torch.float32)"


def test_generator_makes_initialisation_reproducible() -> None:
    a = MomentumQueue(16, 4, generator=torch.Generator().manual_seed(3))
    b = MomentumQueue(16, 4, generator=torch.Generator().manual_seed(3))
    c = MomentumQueue(16, 4, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a.keys, b.keys) and not torch.equal(a.keys, c.keys)


def test_enqueue_writes_in_order_and_wraps_when_batch_does_not_divide_size() -> None:
    queue = MomentumQueue(5, 2)
    queue.enqueue(rows(0, 3))
    assert queue.keys[:3, 0].tolist() == [0, 1, 2] and int(queue.ptr) == 3
    queue.enqueue(rows(3, 3))  # rows 3, 4, then wraps to row 0
    assert queue.keys[:, 0].tolist() == [5, 1, 2, 3, 4] and int(queue.ptr) == 1
    queue.enqueue(rows(6, 5))  # B == K replaces everything, pointer unchanged
    assert queue.keys[:, 0].tolist() == [10, 6, 7, 8, 9] and int(queue.ptr) == 1


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(1, 12),
    batches=st.lists(st.integers(1, 12), min_size=1, max_size=8),
)
def test_enqueue_matches_a_list_model(size: int, batches: list[int]) -> None:
    queue = MomentumQueue(size, 2)
    model = queue.keys[:, 0].tolist()
    ptr, counter = 0, 0
    for batch in batches:
        if batch > size:
            with pytest.raises(AimCLRError):
                queue.enqueue(rows(counter, batch))
            continue
        queue.enqueue(rows(counter, batch))
        for i in range(batch):
            model[(ptr + i) % size] = float(counter + i)
        ptr, counter = (ptr + batch) % size, counter + batch
    assert queue.keys[:, 0].tolist() == model and int(queue.ptr) == ptr


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            torch.zeros(6, 2),
            "keys must hold between 1 and K = 5 rows (the queue size), "
            "got shape (6, 2), dtype torch.float32",
        ),
        (
            torch.zeros(3, 4),
            "keys must have layout (B, D) with D = 2, got shape (3, 4), dtype torch.float32",
        ),
        (
            torch.zeros(2),
            "keys must have layout (B, D) with D = 2, got shape (2,), dtype torch.float32",
        ),
        (
            torch.zeros(0, 2),
            "keys must hold between 1 and K = 5 rows (the queue size), "
            "got shape (0, 2), dtype torch.float32",
        ),
        (
            torch.zeros(3, 2, dtype=torch.long),
            "keys must be a floating tensor (float16, "
            "bfloat16, float32 or float64), got shape (3, 2), dtype torch.int64",
        ),
        ([[0.0, 0.0]], "keys must be a torch.Tensor, got list"),
    ],
)
def test_bad_keys_raise_before_the_queue_changes(keys: torch.Tensor, message: str) -> None:
    queue = MomentumQueue(5, 2)
    queue.enqueue(rows(0, 2))
    before_keys, before_ptr = queue.keys.clone(), queue.ptr.clone()
    with pytest.raises(AimCLRError, match=f"^{re.escape(message)}$"):
        queue.enqueue(keys)
    assert torch.equal(queue.keys, before_keys) and torch.equal(queue.ptr, before_ptr)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 0, "dim": 2}, "size must be an int >= 1 (queue length K), got 0"),
        ({"size": 4, "dim": -1}, "dim must be an int >= 1 (key dimension D), got -1"),
        ({"size": 4.0, "dim": 2}, "size must be an int >= 1 (queue length K), got 4.0"),
        ({"size": 4, "dim": 2, "dtype": torch.int32}, "dtype must be a floating dtype"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(AimCLRError, match=re.escape(message)):
        MomentumQueue(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16, torch.float16])
def test_enqueue_casts_to_the_queue_dtype(dtype: torch.dtype) -> None:
    queue = MomentumQueue(4, 2)
    queue.enqueue(torch.full((2, 2), 0.5, dtype=dtype))
    assert queue.keys.dtype == torch.float32
    assert queue.keys[:2].tolist() == [[0.5, 0.5], [0.5, 0.5]]


def test_enqueue_detaches_and_negatives_is_a_safe_copy() -> None:
    queue = MomentumQueue(4, 2)
    weight = torch.ones(2, 2, requires_grad=True)
    negatives = queue.negatives()
    assert not negatives.requires_grad and torch.equal(negatives, queue())
    loss = (weight @ negatives.T).sum()
    queue.enqueue(weight * 3)  # in-place write after the negatives were used
    loss.backward()  # would fail with a view of the buffer
    assert not queue.keys.requires_grad
    assert weight.grad is not None and torch.equal(negatives, negatives.clone())
    assert not torch.equal(queue.negatives(), negatives)


def test_state_dict_round_trip_restores_keys_and_pointer() -> None:
    queue = MomentumQueue(6, 3, generator=torch.Generator().manual_seed(0))
    queue.enqueue(torch.ones(4, 3))
    state = queue.state_dict()
    assert list(state) == ["keys", "ptr"]
    restored = MomentumQueue(6, 3, generator=torch.Generator().manual_seed(1))
    restored.load_state_dict(state)
    assert torch.equal(restored.keys, queue.keys) and int(restored.ptr) == 4
    restored.enqueue(torch.zeros(3, 3))
    assert int(restored.ptr) == 1


def test_reset_refills_and_rewinds() -> None:
    queue = MomentumQueue(4, 2)
    queue.enqueue(torch.zeros(3, 2))
    queue.reset(torch.Generator().manual_seed(0))
    torch.testing.assert_close(queue.keys.norm(dim=1), torch.ones(4))
    assert int(queue.ptr) == 0


def test_keys_are_stored_as_given_and_the_loss_check_finds_unnormalised_ones() -> None:
    # The docstring promises no normalisation (a check would synchronise the GPU per
    # step); contrastive_logits(on_unnormalized="raise") is where unit rows are checked.
    from aimclr.losses import contrastive_logits

    queue = MomentumQueue(4, 2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(queue.keys.norm(dim=1), torch.ones(4))  # starts unit-norm
    queue.enqueue(torch.tensor([[3.0, 4.0]]))
    assert queue.keys[0].tolist() == [3.0, 4.0]
    assert "unit-norm keys" not in (MomentumQueue.__doc__ or "")
    q = torch.tensor([[1.0, 0.0]])
    with pytest.raises(AimCLRError, match=r"rows are not unit vectors in queue \(largest"):
        contrastive_logits(q, q, queue.negatives(), on_unnormalized="raise")
