"""update_momentum, copy_and_freeze and freeze_."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from aimclr import AimCLRError
from aimclr.nn.momentum import copy_and_freeze, freeze_, update_momentum


def small_net() -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def test_copy_and_freeze_is_an_exact_frozen_copy() -> None:
    query = small_net()
    key = copy_and_freeze(query)
    assert key is not query
    pairs = zip(query.named_parameters(), key.named_parameters(), strict=True)
    for (name_q, p_q), (name_k, p_k) in pairs:
        assert name_q == name_k and torch.equal(p_q, p_k)
        assert p_q.data_ptr() != p_k.data_ptr()
        assert p_q.requires_grad and not p_k.requires_grad
    for b_q, b_k in zip(query.buffers(), key.buffers(), strict=True):
        assert torch.equal(b_q, b_k)
    assert freeze_(query) is query and not any(p.requires_grad for p in query.parameters())


@pytest.mark.parametrize("m", [0.0, 0.5, 0.999, 1.0])
def test_update_matches_closed_form_after_several_steps(m: float) -> None:
    torch.manual_seed(0)
    query, key = small_net(), small_net()
    start_k = [p.detach().clone() for p in key.parameters()]
    q_values = [p.detach().clone() for p in query.parameters()]
    steps = 3
    for _ in range(steps):
        update_momentum(query, key, m)
    # θ_k(n) = m^n θ_k(0) + (1 − m^n) θ_q for a fixed θ_q.
    for k0, q, k in zip(start_k, q_values, key.parameters(), strict=True):
        torch.testing.assert_close(k, m**steps * k0 + (1 - m**steps) * q)
    for q, q_now in zip(q_values, query.parameters(), strict=True):
        assert torch.equal(q, q_now)  # the query side is read only


def test_buffers_are_left_alone_unless_asked() -> None:
    query, key = small_net(), small_net()
    query[1].running_mean.fill_(2.0)
    query[1].num_batches_tracked.fill_(7)
    update_momentum(query, key, 0.5)
    assert torch.equal(key[1].running_mean, torch.zeros(4))
    update_momentum(query, key, 0.5, buffers=True)
    torch.testing.assert_close(key[1].running_mean, torch.ones(4))
    assert int(key[1].num_batches_tracked) == 7


def test_update_runs_without_autograd_history() -> None:
    query, key = small_net(), copy_and_freeze(small_net())
    update_momentum(query, key, 0.9)
    assert all(p.grad_fn is None and not p.requires_grad for p in key.parameters())
    assert all(p.is_leaf for p in query.parameters())


@pytest.mark.parametrize(
    ("m", "message"),
    [
        (1.5, "m must lie in [0, 1], got 1.5"),
        (-0.1, "m must lie in [0, 1], got -0.1"),
        ("0.9", "m must be a float in [0, 1], got '0.9'"),
        (True, "m must be a float in [0, 1], got True"),
    ],
)
def test_bad_momentum_raises(m: object, message: str) -> None:
    query, key = small_net(), small_net()
    before = [p.detach().clone() for p in key.parameters()]
    with pytest.raises(AimCLRError, match=f"^{re.escape(message)}$"):
        update_momentum(query, key, m)  # type: ignore[arg-type]
    assert all(torch.equal(a, b) for a, b in zip(before, key.parameters(), strict=True))


def test_mismatched_structures_raise_before_any_update() -> None:
    query = small_net()
    wider = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2))
    with pytest.raises(AimCLRError, match=re.escape("parameter '0.weight' has shape (4, 3)")):
        update_momentum(query, wider, 0.9)
    shorter = nn.Sequential(nn.Linear(3, 4))
    before = [p.detach().clone() for p in shorter.parameters()]
    with pytest.raises(AimCLRError, match="same parameter names; only in query_net"):
        update_momentum(query, shorter, 0.9)
    assert all(torch.equal(a, b) for a, b in zip(before, shorter.parameters(), strict=True))


def test_networks_on_different_devices_raise_before_any_update() -> None:
    query, key = small_net(), small_net()
    meta = small_net().to("meta")  # stands in for a network left on another device
    before = [p.detach().clone() for p in key.parameters()]
    message = "parameter '0.weight' is on meta in query_net"
    with pytest.raises(AimCLRError, match=re.escape(message)):
        update_momentum(meta, key, 0.9)
    assert all(torch.equal(a, b) for a, b in zip(before, key.parameters(), strict=True))
    update_momentum(query, key, 0.9)  # the same networks on one device still update
    assert not all(torch.equal(a, b) for a, b in zip(before, key.parameters(), strict=True))
