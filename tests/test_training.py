"""Training helpers: atomic checkpoints, RNG state, schedule, finite checks."""

from __future__ import annotations

import random
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from aimclr import AimCLRError
from aimclr.training import (
    NonFiniteLossError,
    check_finite_losses,
    get_rng_state,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
    set_rng_state,
    step_lr,
)


def test_checkpoint_round_trip_and_no_leftover_temporary(tmp_path: Path) -> None:
    state = {"epoch": 3, "weights": torch.arange(5.0), "nested": {"lr": 0.1}}
    path = save_checkpoint(state, tmp_path / "run" / "last.pt")
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3 and loaded["nested"] == {"lr": 0.1}
    assert torch.equal(loaded["weights"], state["weights"])
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]


def test_checkpoint_permissions_follow_the_umask_or_the_replaced_file(tmp_path: Path) -> None:
    reference = tmp_path / "plain"
    reference.write_bytes(b"")  # what any new file gets under this process's umask
    path = save_checkpoint({"epoch": 1}, tmp_path / "last.pt")
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(reference.stat().st_mode)
    path.chmod(0o600)  # the user restricted it: a new checkpoint keeps that
    save_checkpoint({"epoch": 2}, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and load_checkpoint(path)["epoch"] == 2


def test_failed_save_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    path = save_checkpoint({"epoch": 1}, tmp_path / "last.pt")

    class Unpicklable:
        def __reduce__(self) -> tuple[object, ...]:
            raise RuntimeError("cannot pickle")

    with pytest.raises(RuntimeError, match="cannot pickle"):
        save_checkpoint({"epoch": 2, "bad": Unpicklable()}, path)
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_load_checkpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(AimCLRError, match="checkpoint file not found"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(AimCLRError, match="must hold a dict, got list"):
        load_checkpoint(tmp_path / "list.pt")


_NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.parametrize("map_location", ["cpu", pytest.param("cuda", marks=_NO_CUDA)])
def test_rng_state_round_trip_through_a_checkpoint(tmp_path: Path, map_location: str) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.standard_normal()  # leaves a cached Gaussian in NumPy's state
    save_checkpoint({"rng": get_rng_state()}, tmp_path / "rng.pt")
    expected = (random.random(), np.random.standard_normal(), torch.rand(3))
    # A trainer on a GPU loads its checkpoint with map_location="cuda".
    set_rng_state(load_checkpoint(tmp_path / "rng.pt", map_location=map_location)["rng"])
    actual = (random.random(), np.random.standard_normal(), torch.rand(3))
    assert actual[0] == expected[0] and actual[1] == expected[1]
    assert torch.equal(actual[2], expected[2])


def test_step_lr_matches_the_reference_schedule() -> None:
    rates = [step_lr(epoch, 0.1, [250]) for epoch in range(1, 301)]
    assert rates[:250] == [0.1] * 250
    assert all(abs(rate - 0.01) < 1e-12 for rate in rates[250:])
    assert step_lr(100, 3.0, [80]) == pytest.approx(0.3)


def test_cuda_states_are_restored_for_the_gpus_this_process_sees(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A checkpoint from a 3-GPU machine resumed with one GPU (simulated: no CUDA here).
    state = get_rng_state()
    state["cuda"] = [torch.full((4,), i, dtype=torch.uint8) for i in range(3)]
    restored: list[tuple[int, list[int]]] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state",
                        lambda s, device: restored.append((device, s.tolist())))  # fmt: skip
    set_rng_state(state)
    assert restored == [(0, [0, 0, 0, 0])]


def test_check_finite_losses_without_a_process_group_ignores_all_ranks() -> None:
    check_finite_losses({"a": torch.tensor(1.0)}, "epoch 1", all_ranks=True)
    with pytest.raises(NonFiniteLossError, match=r"epoch 1: \{'a': inf\}"):
        check_finite_losses({"a": torch.tensor(float("inf"))}, "epoch 1", all_ranks=True)


def test_check_finite_losses_names_the_bad_terms() -> None:
    check_finite_losses({"a": torch.tensor(1.0)}, "epoch 1")
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step 5: \{'d3m': nan\}"):
        check_finite_losses({"ok": torch.tensor(0.5), "d3m": torch.tensor(float("nan"))},
                            "epoch 2, step 5")


def _draws() -> tuple[float, float, torch.Tensor]:
    return random.random(), float(np.random.random()), torch.rand(4)


def test_seed_everything_seeds_python_numpy_and_torch() -> None:
    saved = get_rng_state()
    try:
        seed = 2**40 + 3  # beyond NumPy's 32-bit seeds
        seed_everything(seed)
        first = _draws()
        _draws()  # the generators move on ...
        seed_everything(seed)  # ... and the seed rewinds all three
        again = _draws()
        seed_everything(seed + 1)
        other = _draws()
    finally:
        set_rng_state(saved)
    assert first[0] == again[0] and first[1] == again[1] and torch.equal(first[2], again[2])
    assert first[0] != other[0] and first[1] != other[1]
    assert not torch.equal(first[2], other[2])
