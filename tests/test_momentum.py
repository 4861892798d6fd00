"""update_momentum, copy_and_freeze and freeze_."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from aimclr import AimCLRError
from aimclr.nn import EADM, attach_eadm
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
    query, key = small_net(), freeze_(small_net())
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
    query, key = small_net(), freeze_(small_net())
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
    wider = freeze_(nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2)))
    with pytest.raises(AimCLRError, match=re.escape("parameter '0.weight' has shape (4, 3)")):
        update_momentum(query, wider, 0.9)
    shorter = freeze_(nn.Sequential(nn.Linear(3, 4)))
    before = [p.detach().clone() for p in shorter.parameters()]
    with pytest.raises(AimCLRError, match="same parameter names; only in query_net"):
        update_momentum(query, shorter, 0.9)
    assert all(torch.equal(a, b) for a, b in zip(before, shorter.parameters(), strict=True))


def test_networks_on_different_devices_raise_before_any_update() -> None:
    query, key = small_net(), freeze_(small_net())
    meta = small_net().to("meta")  # stands in for a network left on another device
    before = [p.detach().clone() for p in key.parameters()]
    message = "parameter '0.weight' is on meta in query_net"
    with pytest.raises(AimCLRError, match=re.escape(message)):
        update_momentum(meta, key, 0.9)
    assert all(torch.equal(a, b) for a, b in zip(before, key.parameters(), strict=True))
    update_momentum(query, key, 0.9)  # the same networks on one device still update
    assert not all(torch.equal(a, b) for a, b in zip(before, key.parameters(), strict=True))


def test_swapped_arguments_are_refused_before_any_update() -> None:
    # update_momentum(key, query, m) would overwrite the trained network with the EMA.
    query = small_net()
    key = copy_and_freeze(query)
    with torch.no_grad():
        for p in key.parameters():
            p.add_(1.0)
    before = [p.detach().clone() for p in query.parameters()]
    message = (
        "key_net has parameters that require gradients (['0.weight', '0.bias', "
        "'1.weight']): update_momentum(query_net, key_net, m) overwrites key_net, which "
        "must be the frozen momentum copy; are query_net and key_net swapped? Build "
        "key_net with copy_and_freeze(query_net)"
    )
    with pytest.raises(AimCLRError, match=f"^{re.escape(message)}$"):
        update_momentum(key, query, 0.9)
    assert all(torch.equal(a, b) for a, b in zip(before, query.parameters(), strict=True))


@pytest.mark.parametrize(
    ("wrap", "attribute"),
    [(lambda net: nn.DataParallel(net), "module"), (lambda net: torch.compile(net), "_orig_mod")],
)
def test_a_wrapped_network_gets_a_hint_to_unwrap_it(wrap: object, attribute: str) -> None:
    query = small_net()
    key = copy_and_freeze(query)
    wrapped = wrap(query)  # type: ignore[operator]
    hint = "query_net looks wrapped (DistributedDataParallel, DataParallel or torch.compile "
    hint += f"prefix the names with '{attribute}.'): pass query_net.{attribute}"
    with pytest.raises(AimCLRError, match=re.escape(hint)):
        update_momentum(wrapped, key, 0.9)
    update_momentum(getattr(wrapped, attribute), key, 0.9)  # the unwrapped network works


class Block(nn.Module):
    """A third-party layer: (n, C, T, V) -> (n, C, T, V)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


def test_copy_and_freeze_can_leave_eadm_out_of_the_key_network() -> None:
    torch.manual_seed(0)
    query = nn.Sequential(Block(), EADM(), Block())
    hooked = nn.Sequential(attach_eadm(Block()), Block())  # EADM through a forward hook
    x = torch.rand(6, 4, 8, 5) + torch.linspace(0, 3, 5)  # salient joints: EADM drops
    for net in (query, hooked):
        plain = copy_and_freeze(net).train()
        key = copy_and_freeze(net, without=EADM).train()
        assert list(key.state_dict()) == list(net.state_dict())
        assert not any(isinstance(m, EADM) for m in key.modules())
        assert not torch.equal(plain(x), key(x))  # the plain copy drops in train mode
        torch.testing.assert_close(key(x), net.eval()(x))  # the key side never drops
        update_momentum(net, key, 0.5)  # the names still match
    with pytest.raises(AimCLRError, match=r"may only leave out modules without parameters"):
        copy_and_freeze(query, without=Block)
    with pytest.raises(AimCLRError, match="cannot leave out the network itself"):
        copy_and_freeze(EADM(), without=EADM)
