"""The library loop: pretrain_epoch, its seeds, state, views, monitor, run log, runtime.

The models are tiny and most use a third-party encoder (not ST-GCN), as a
researcher bringing their own would.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

import aimclr._cores
from aimclr import STGCN, AimCLR, AimCLRError, AimCLRWarning, NonFiniteInputError, to_stream
from aimclr.data import SyntheticActionDataset
from aimclr.eval import extract_features, knn_accuracy
from aimclr.training import (
    EpochMetrics,
    KNNMonitor,
    NonFiniteLossError,
    PretrainViews,
    RunLog,
    StepMetrics,
    TrainingState,
    epoch_loader,
    epoch_seed,
    nonfinite_samples,
    pretrain_epoch,
    setup_runtime,
)
from aimclr.transforms import AimCLRViews, normal_view

N, T, V, M = 24, 8, 25, 1
BATCH = 8


class JointMLP(nn.Module):
    """A third-party encoder: a per-joint MLP with the features()/pool() split EADM uses."""

    def __init__(self, width: int = 6) -> None:
        super().__init__()
        self.out_channels = width
        self.mix = nn.Sequential(nn.Conv2d(3, width, 1), nn.ReLU(), nn.Conv2d(width, width, 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v, m = x.shape
        return torch.relu(self.mix(x.permute(0, 4, 1, 2, 3).reshape(n * m, c, t, v)))

    def pool(self, feature_map: torch.Tensor, num_persons: int) -> torch.Tensor:
        pooled = feature_map.mean(dim=(2, 3))
        return pooled.view(-1, num_persons, pooled.shape[1]).mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x), x.shape[-1])


class FlatEncoder(nn.Module):
    """A third-party encoder with a forward() only (no EADM possible)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * T * V * M, 5), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


def dataset(samples: int = N) -> SyntheticActionDataset:
    return SyntheticActionDataset(samples, seed=3, num_frames=T)


def build(encoder: nn.Module | None = None, **options: Any) -> tuple[AimCLR, torch.optim.SGD]:
    torch.manual_seed(0)
    settings = {"feature_dim": 4, "queue_size": 20, "mining_epoch": 1, **options}
    model = AimCLR(JointMLP() if encoder is None else encoder,
                   queue_generator=torch.Generator().manual_seed(1), **settings)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1,
                                momentum=0.9, weight_decay=1e-4)  # fmt: skip
    return model, optimizer


def run_epochs(model: AimCLR, optimizer: torch.optim.Optimizer, epochs: range,
               **options: Any) -> list[EpochMetrics]:  # fmt: skip
    views = PretrainViews(model.extreme_views, "12345")
    return [pretrain_epoch(model, dataset(), views, optimizer, epoch, batch_size=BATCH, seed=5,
                           **options) for epoch in epochs]  # fmt: skip


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_an_epoch_trains_a_third_party_encoder_and_reports_its_metrics() -> None:
    model, optimizer = build()
    before = weights(model)
    steps: list[StepMetrics] = []
    first, second = run_epochs(model, optimizer, range(1, 3), lr=0.05, on_step=steps.append)
    assert (first.epoch, first.steps, first.samples, first.lr) == (1, N // BATCH, N, 0.05)
    assert list(first.losses) == ["loss", "info_nce", "d3m", "d3m_kl", "d3m_extreme",
                                  "d3m_extreme_drop"]
    assert "nnm" in second.losses and "info_nce" not in second.losses  # epoch 2 > mining 1
    # The epoch means are the means of the per-step values the callback saw.
    assert [(s.epoch, s.step, s.batch_size) for s in steps] == [
        (e, s, BATCH) for e in (1, 2) for s in (1, 2, 3)]  # fmt: skip
    for name, mean in first.losses.items():
        assert mean == sum(float(s.losses[name]) for s in steps[:3]) / 3
    assert first.record() == {"epoch": 1, "lr": 0.05, **first.losses,
                              "seconds": first.seconds, "samples_per_s": first.samples_per_s}
    assert int(model.queue.ptr) == (2 * N) % 20  # every key of both epochs was enqueued
    assert not torch.equal(before["encoder_q.mix.0.weight"], model.encoder_q.mix[0].weight)
    assert model.training


def test_an_epoch_follows_its_documented_seeding_bit_for_bit() -> None:
    """pretrain_epoch equals a hand-written loop seeded by (seed, epoch) as documented."""
    model, optimizer = build()
    (metrics,) = run_epochs(model, optimizer, range(2, 3))

    reference, reference_optimizer = build()
    views = AimCLRViews("12345")
    torch.manual_seed(epoch_seed(5, 2))
    generator = torch.Generator().manual_seed(epoch_seed(6, 2))
    order = RandomSampler(dataset(), generator=torch.Generator().manual_seed(epoch_seed(5, 2)))
    loss_sum = 0.0
    for x, _ in DataLoader(dataset(), BATCH, sampler=order, drop_last=True):
        out = reference(*views(x.float(), generator=generator), epoch=2)
        reference_optimizer.zero_grad()
        out.loss.backward()
        reference_optimizer.step()
        loss_sum += float(out.loss.detach())
    assert metrics.losses["loss"] == loss_sum / 3
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[name]), name


def test_resuming_through_the_training_state_is_bit_identical(tmp_path: Path) -> None:
    model, optimizer = build()
    straight = run_epochs(model, optimizer, range(1, 4))

    first, first_optimizer = build()
    state = TrainingState(first, first_optimizer)
    run_epochs(first, first_optimizer, range(1, 2))
    state.epoch = 1
    state.save(tmp_path / "last.pt", note="epoch one")
    torch.manual_seed(123)  # whatever happens in between ...
    resumed, resumed_optimizer = build()
    state = TrainingState(resumed, resumed_optimizer)
    assert state.load(tmp_path / "last.pt")["note"] == "epoch one"
    assert state.epoch == 1
    tail = run_epochs(resumed, resumed_optimizer, range(state.epoch + 1, 4))

    assert [m.losses for m in tail] == [m.losses for m in straight[1:]]
    for name, tensor in model.state_dict().items():  # queue.keys and queue.ptr included
        assert torch.equal(tensor, resumed.state_dict()[name]), name
    expected, actual = optimizer.state_dict()["state"], resumed_optimizer.state_dict()["state"]
    assert all(torch.equal(expected[k]["momentum_buffer"], actual[k]["momentum_buffer"])
               for k in expected)  # fmt: skip


def test_a_state_that_does_not_fit_changes_nothing() -> None:
    model, optimizer = build()
    saved = TrainingState(model, optimizer, epoch=4).state_dict()
    other, other_optimizer = build(feature_dim=6)
    state = TrainingState(other, other_optimizer, epoch=0)
    before = weights(other)
    rng_before = torch.get_rng_state()
    with pytest.raises(AimCLRError, match=r"shapes differ .*head_q.*\(4, 6\) vs \(6, 6\)"):
        state.load_state_dict(saved)
    assert state.epoch == 0 and torch.equal(torch.get_rng_state(), rng_before)
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in before.items())
    with pytest.raises(AimCLRError, match=r"missing \['rng'\]"):
        TrainingState(model, optimizer).load_state_dict({k: v for k, v in saved.items()
                                                         if k != "rng"})  # fmt: skip
    fewer = torch.optim.SGD(list(model.parameters())[:2], lr=0.1)
    with pytest.raises(AimCLRError, match="parameters per group"):
        TrainingState(model, fewer).load_state_dict(saved)
    with pytest.raises(AimCLRError, match=r"would overwrite the training state"):
        TrainingState(model, optimizer).save("unused.pt", epoch=3)


def test_gradient_clipping_bounds_the_step() -> None:
    model, _ = build(FlatEncoder(), encoder_dim=5, use_eadm=False)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    norms: list[torch.Tensor] = []
    views = PretrainViews(True, "12345")
    pretrain_epoch(model, dataset(BATCH), views, optimizer, 1, batch_size=BATCH,
                   max_grad_norm=1e-3, on_step=lambda s: norms.append(s.grad_norm))
    step = torch.cat([(p.detach() - b).flatten() for p, b in zip(
        [p for p in model.parameters() if p.requires_grad], before, strict=True)])
    assert float(norms[0]) > 1e-3  # the raw gradient was larger, so it was clipped:
    assert float(step.norm()) == pytest.approx(0.5 * 1e-3, rel=1e-4)  # |update| = lr * max


@pytest.mark.parametrize("amp_dtype", [torch.bfloat16, torch.float16])
def test_autocast_and_the_gradient_scaler(amp_dtype: torch.dtype) -> None:
    model, optimizer = build()
    runtime = setup_runtime("cpu", "bf16" if amp_dtype == torch.bfloat16 else "fp16")
    scaler = runtime.grad_scaler()
    assert (scaler is None) == (amp_dtype == torch.bfloat16)
    (metrics,) = run_epochs(model, optimizer, range(1, 2), amp_dtype=runtime.amp_dtype,
                            scaler=scaler, max_grad_norm=10.0)  # fmt: skip
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.losses.values())


def test_a_data_set_of_bare_tensors_and_a_plain_encoder() -> None:
    model, optimizer = build(FlatEncoder(), encoder_dim=5, extreme_views=False, use_d3m=False,
                             use_eadm=False, use_nnm=False)  # SkeletonCLR, a plain encoder
    data = TensorDataset(torch.randn(N, 3, T, V, M))
    metrics = pretrain_epoch(model, data, PretrainViews(extreme=False), optimizer, 1,
                             batch_size=BATCH)  # fmt: skip
    assert list(metrics.losses) == ["loss", "info_nce"] and metrics.steps == 3


def test_a_data_loader_is_used_as_it_is_and_views_default_to_the_model_s() -> None:
    model, optimizer = build()
    loader = DataLoader(dataset(), batch_size=10)  # in order, a last batch of 4
    metrics = pretrain_epoch(model, loader, None, optimizer, 1)
    assert (metrics.steps, metrics.samples) == (3, N)
    assert "d3m_extreme_drop" in metrics.losses  # PretrainViews(extreme=True): all three
    sclr, sclr_optimizer = build(FlatEncoder(), encoder_dim=5, extreme_views=False,
                                 use_d3m=False, use_eadm=False, use_nnm=False)  # fmt: skip
    assert list(pretrain_epoch(sclr, loader, None, sclr_optimizer, 1).losses) == [
        "loss", "info_nce"]  # fmt: skip
    with pytest.raises(AimCLRError, match="batch_size is the DataLoader's own"):
        pretrain_epoch(model, loader, None, optimizer, 1, batch_size=10)
    with pytest.raises(AimCLRError, match="batch_size is needed"):
        pretrain_epoch(model, dataset(), None, optimizer, 1)


def test_bad_arguments_and_a_too_small_data_set_change_nothing() -> None:
    model, optimizer = build()
    before = weights(model)
    views = PretrainViews()
    with pytest.raises(AimCLRError, match=r"fewer samples than one batch of 32 per process"):
        pretrain_epoch(model, dataset(), views, optimizer, 1, batch_size=32, lr=0.7)
    for options, message in (({"epoch": 0}, "epoch must be an int >= 1"),
                             ({"lr": -1.0}, "lr must be None or a positive"),
                             ({"amp_dtype": torch.float64}, "amp_dtype must be None")):
        arguments: dict[str, Any] = {"epoch": 1, "batch_size": BATCH, **options}
        with pytest.raises(AimCLRError, match=message):
            pretrain_epoch(model, dataset(), views, optimizer, **arguments)
    assert optimizer.param_groups[0]["lr"] == 0.1
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_a_non_finite_loss_stops_before_the_step(monkeypatch: pytest.MonkeyPatch) -> None:
    model, optimizer = build()
    before = weights(model)
    original = aimclr._cores.info_nce  # the unchecked InfoNCE core of the model's step
    monkeypatch.setattr(aimclr._cores, "info_nce",
                        lambda log_p: original(log_p) * float("nan"))  # fmt: skip
    with pytest.raises(NonFiniteLossError, match="epoch 1, step 1"):
        run_epochs(model, optimizer, range(1, 2))
    trained = {k for k in before if k.startswith(("encoder_q", "head_q"))}
    assert all(torch.equal(before[k], model.state_dict()[k]) for k in trained)


class PoisonedSamples(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """A data set with NaN or infinity in some samples."""

    def __init__(self, bad: dict[int, float]) -> None:
        self.base, self.bad = dataset(), bad

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x, y = self.base[index]
        if index in self.bad:
            x = x.clone()
            x[1, 2, 3, 0] = self.bad[index]
        return x, y


def test_a_non_finite_sample_stops_the_epoch_before_anything_changes() -> None:
    model, optimizer = build(STGCN(hidden_channels=2, hidden_dim=8))  # BatchNorm statistics
    before, momentum = weights(model), optimizer.state_dict()
    order = [int(i) for batch in epoch_loader(torch.arange(N), BATCH, seed=5, epoch=1)
             for i in batch]  # fmt: skip
    data = PoisonedSamples({order[2]: float("nan"), order[6]: float("inf")})  # in batch 1
    message = (f"epoch 1, step 1: data set samples {[order[2], order[6]]} of the batch hold "
               "NaN or infinite values; stopping before the model sees them")
    with pytest.raises(NonFiniteInputError, match=re.escape(message)):
        pretrain_epoch(model, data, None, optimizer, 1, batch_size=BATCH, seed=5)
    # Nothing changed: weights, queue and pointer, BatchNorm statistics, optimiser.
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert optimizer.state_dict() == momentum


def test_skipping_a_non_finite_batch_leaves_the_model_as_if_it_did_not_exist() -> None:
    x = torch.stack([dataset()[i][0] for i in range(2 * BATCH)])
    bad = x.clone()
    bad[3, 0, 0, 0, 0] = float("nan")
    for batches, nan_first in (([bad[:BATCH]], True), ([bad[:BATCH], x[BATCH:]], False)):
        model, optimizer = build()
        before = weights(model)
        loader = DataLoader(torch.cat(batches), batch_size=BATCH)  # positions within the batch
        if nan_first and len(batches) == 1:
            with (pytest.warns(AimCLRWarning, match=r"epoch 1, step 1: samples at positions "
                                                    r"\[3\] of the batch hold NaN"),
                  pytest.raises(AimCLRError, match=r"every batch of epoch 1 .* was skipped")):
                pretrain_epoch(model, loader, None, optimizer, 1, nonfinite="skip")
            assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
            continue
        with pytest.warns(AimCLRWarning, match="the batch is skipped"):
            skipped = pretrain_epoch(model, loader, None, optimizer, 1, nonfinite="skip")
        clean, clean_optimizer = build()
        only_good = pretrain_epoch(clean, DataLoader(x[BATCH:], batch_size=BATCH), None,
                                   clean_optimizer, 1)  # fmt: skip
        assert (skipped.steps, skipped.skipped, skipped.record()["skipped_batches"]) == (1, 1, 1)
        assert skipped.losses == only_good.losses and "skipped_batches" not in only_good.record()
        for name, tensor in clean.state_dict().items():
            assert torch.equal(model.state_dict()[name], tensor), name
    with pytest.raises(AimCLRError, match="nonfinite must be 'error' or 'skip', got 'zero'"):
        pretrain_epoch(model, dataset(), None, optimizer, 1, batch_size=BATCH,
                       nonfinite="zero")  # type: ignore[arg-type]


def test_nonfinite_samples_finds_every_bad_sample_and_passes_huge_finite_sums() -> None:
    x = torch.zeros(5, 3, 4)
    x[1, 0, 0], x[3, 2, 1] = float("nan"), -float("inf")
    assert nonfinite_samples(x) == [1, 3]
    huge = torch.full((4, 3), 3e38)  # the sum overflows, every value is finite
    assert nonfinite_samples(huge) == [] and nonfinite_samples(torch.zeros(0, 3)) == []
    assert nonfinite_samples(torch.ones(2, 2, dtype=torch.int64)) == []


def test_epoch_loader_order_depends_on_seed_and_epoch_only() -> None:
    data = TensorDataset(torch.arange(20.0))

    def order(seed: int, epoch: int) -> list[float]:
        return torch.cat([x for (x,) in epoch_loader(data, 4, seed=seed, epoch=epoch)]).tolist()

    assert order(0, 1) == order(0, 1) and len(order(0, 1)) == 20
    assert order(0, 1) != order(0, 2) and order(0, 1) != order(1, 1)
    assert sorted(order(0, 3)) == list(range(20))
    assert len(list(epoch_loader(TensorDataset(torch.arange(7.0)), 4, seed=0, epoch=1))) == 1


def test_pretrain_views_are_the_model_s_views_as_a_stream() -> None:
    x = torch.randn(4, 3, T, V, M)
    views = PretrainViews(True, "12345", "bone")
    got = views(x, generator=torch.Generator().manual_seed(0))
    want = AimCLRViews("12345")(x, generator=torch.Generator().manual_seed(0))
    for a, b in zip(got, want, strict=True):
        assert a is not None and torch.equal(a, to_stream(b, "bone"))
    extreme, query, key = PretrainViews(False, stream="motion")(x, generator=torch.Generator()
                                                                .manual_seed(0))  # fmt: skip
    normal, generator = normal_view(), torch.Generator().manual_seed(0)
    assert extreme is None
    assert torch.equal(query, to_stream(normal(x, generator=generator), "motion"))
    assert torch.equal(key, to_stream(normal(x, generator=generator), "motion"))
    with pytest.raises(AimCLRError, match="unknown stream 'velocity'"):
        PretrainViews(stream="velocity")


def test_knn_monitor_matches_the_knn_protocol() -> None:
    train, test = dataset(), SyntheticActionDataset(12, seed=4, num_frames=T)
    encoder = JointMLP()
    monitor = KNNMonitor(train, test, 12, every=3, ks=(5, 1), device="cpu",
                         transform=lambda x: to_stream(x, "motion"))  # fmt: skip
    result = monitor(encoder)
    assert list(result) == ["knn5", "knn1"]
    train_x, train_y = extract_features(encoder, [(to_stream(x, "motion"), y)
                                                  for x, y in DataLoader(train, 256)])
    test_x, test_y = extract_features(encoder, [(to_stream(x, "motion"), y)
                                                for x, y in DataLoader(test, 256)])
    assert train_y is not None and test_y is not None
    for k in (5, 1):
        assert result[f"knn{k}"] == knn_accuracy(train_x, train_y, test_x, test_y, k=k,
                                                 num_classes=12)  # fmt: skip
    assert [monitor.due(e, last_epoch=7) for e in range(1, 8)] == [
        False, False, True, False, False, True, True]  # fmt: skip
    assert not KNNMonitor(train, test, 12, every=0).due(4, last_epoch=4)
    with pytest.raises(AimCLRError, match="each k in ks must be an int >= 1"):
        KNNMonitor(train, test, 12, ks=(0,))


def test_run_log_writes_on_the_main_process_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = {"epoch": 2, "lr": 0.05, "loss": 1.25, "knn1": 0.5, "seconds": 3.0,
              "samples_per_s": 40.0}  # fmt: skip
    log = RunLog(tmp_path / "run")
    log.epoch(record, epochs=4)
    log.write_json("results.json", {"a": 1})
    assert json.loads(log.metrics_path.read_text()) == record
    assert json.loads((tmp_path / "run" / "results.json").read_text()) == {"a": 1}
    line = capsys.readouterr().out
    assert line.startswith("epoch   2/4  lr 0.05  loss 1.250 knn1 0.500  40 samples/s  eta 0:")
    silent = RunLog(tmp_path / "other", enabled=False)
    silent.epoch(record, epochs=4)
    silent.info("hidden")
    assert silent.write_json("results.json", {}) is None
    assert not (tmp_path / "other").exists() and capsys.readouterr().out == ""


def test_setup_runtime_on_one_cpu_process() -> None:
    runtime = setup_runtime("cpu", "off")
    assert (runtime.device.type, runtime.rank, runtime.world_size, runtime.is_main) == (
        "cpu", 0, 1, True)  # fmt: skip
    assert runtime.amp_dtype is None and runtime.grad_scaler() is None
    model = nn.Linear(2, 2)
    assert runtime.distribute(model) is model
    assert setup_runtime("cpu", "auto").amp_dtype is None  # auto: bf16 on CUDA only
    with setup_runtime("cpu", "bf16").autocast():
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
        assert torch.is_autocast_enabled("cpu")
    with pytest.raises(AimCLRError, match="amp must be one of"):
        setup_runtime("cpu", "fp8")  # type: ignore[arg-type]


# ------------------------------------------------------------------ two processes (gloo)
WORLD = 2


class Recorded(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """The synthetic set, noting which sample indices this process read."""

    def __init__(self) -> None:
        self.inner = dataset()
        self.seen: list[int] = []

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        self.seen.append(index)
        x, y = self.inner[index]
        return x, int(y)


def ddp_worker(local_rank: int, init_file: str, out_dir: str) -> None:
    import os
    from datetime import timedelta

    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=local_rank,
                            world_size=WORLD, timeout=timedelta(seconds=60))  # fmt: skip
    try:
        core, optimizer = build()
        model = DistributedDataParallel(core)
        data = Recorded()
        metrics = pretrain_epoch(model, data, PretrainViews(), optimizer, 1, batch_size=4,
                                 seed=5)  # fmt: skip
        state = TrainingState(model, optimizer, epoch=1)
        torch.save({"seen": data.seen, "model": core.state_dict(), "samples": metrics.samples,
                    "steps": metrics.steps, "unwrapped": state.model is core},
                   os.path.join(out_dir, f"rank{local_rank}.pt"))  # fmt: skip
        dist.barrier()
    finally:
        dist.destroy_process_group()
    os._exit(0)  # gloo's threads can abort the interpreter's shutdown; results are saved


@pytest.mark.slow  # two fresh interpreters; tests/test_pretrain_example.py runs torchrun
def test_two_processes_share_the_data_and_keep_one_model(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    mp.spawn(ddp_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    seen = [set(r["seen"]) for r in ranks]
    assert len(seen[0]) == len(seen[1]) == N // WORLD and not seen[0] & seen[1]
    assert all(r["steps"] == N // (WORLD * 4) and r["samples"] == N for r in ranks)
    assert all(r["unwrapped"] for r in ranks)
    for name, tensor in ranks[0]["model"].items():  # DDP and the gathered queue agree
        assert torch.equal(tensor, ranks[1]["model"][name]), name
    assert int(ranks[0]["model"]["queue.ptr"]) == N % 20  # both ranks' keys were enqueued
