"""Two CPU processes (gloo): the queue and the model agree with one process on the full batch.

Each rank works on its half of a batch, without DDP: gradients are averaged by hand
with ``all_reduce``. The encoder has no BatchNorm or dropout and EADM rescales per
sample, so one process on the concatenated batch computes exactly the same thing.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from aimclr.errors import AimCLRError
from aimclr.model import AimCLR
from aimclr.nn.distributed import all_gather_no_grad, is_distributed, rank, world_size
from aimclr.nn.eadm import EADM
from aimclr.nn.queue import MomentumQueue
from aimclr.training import NonFiniteLossError, check_finite_losses

WORLD = 2
BATCH = 6  # total over ranks; 3 per rank
STEPS = 3
# Unequal per-rank batches for the plain queue: rank 0 sends 3 rows, rank 1 sends 2.
QUEUE_BATCHES = ((3, 2), (1, 4), (3, 3))


class TinyEncoder(nn.Module):
    """A per-joint linear map with the full encoder contract (aimclr.nn.SkeletonEncoder)."""

    out_channels = 6

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, self.out_channels, kernel_size=1)

    def check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 5 or x.shape[1] != 3:
            raise AimCLRError(f"x must have layout (N, 3, T, V, M), got {tuple(x.shape)}")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v, m = x.shape
        folded = x.permute(0, 4, 1, 2, 3).reshape(n * m, c, t, v)
        return torch.relu(self.conv(folded))

    def pool(self, feature_map: torch.Tensor, num_persons: int) -> torch.Tensor:
        pooled = feature_map.mean(dim=(2, 3))
        return pooled.view(-1, num_persons, pooled.shape[1]).mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x), x.shape[-1])


def build_model() -> AimCLR:
    torch.manual_seed(0)
    return AimCLR(
        TinyEncoder(),
        feature_dim=4,
        queue_size=10,  # BATCH does not divide it: the ring wraps mid-batch
        momentum=0.5,
        mining_epoch=1,
        eadm=EADM(rescale="sample"),
        queue_generator=torch.Generator().manual_seed(1),
    )


def batches() -> list[list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(2)
    return [
        [torch.randn(BATCH, 3, 8, 5, 2, generator=generator) for _ in range(3)]
        for _ in range(STEPS)
    ]


def queue_rows() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(3)
    return [
        (torch.randn(a, 4, generator=generator), torch.randn(b, 4, generator=generator))
        for a, b in QUEUE_BATCHES
    ]


def run(part: slice | None, sync: bool) -> dict[str, Any]:
    """Queue and model steps on ``part`` of each batch (all of it when ``None``)."""
    queue = MomentumQueue(7, 4, generator=torch.Generator().manual_seed(4))
    for rows in queue_rows():
        queue.enqueue(rows[rank()] if sync else torch.cat(rows))
    model = build_model()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for step, views in enumerate(batches(), start=1):
        views = [v[part] if part is not None else v for v in views]
        out = model(*views, epoch=step)
        optimiser.zero_grad()
        out.loss.backward()
        loss = out.loss.detach()
        if sync:  # what DDP would do: average gradients (and, here, the logged loss)
            for param in model.parameters():
                if param.grad is not None:
                    dist.all_reduce(param.grad)
                    param.grad /= world_size()
            dist.all_reduce(loss)
            loss /= world_size()
        optimiser.step()
        losses.append(loss)
    return {
        "queue_keys": queue.keys.clone(),
        "queue_ptr": queue.ptr.clone(),
        "model_keys": model.queue.keys.clone(),
        "model_ptr": model.queue.ptr.clone(),
        "losses": torch.stack(losses),
        "encoder_k": [p.detach().clone() for p in model.encoder_k.parameters()],
    }


def _outcome(fn: Any, *state: torch.Tensor) -> tuple[str, str, bool]:
    """Run ``fn``; the error's type and message, and whether ``state`` stayed unchanged."""
    before = [t.clone() for t in state]
    try:
        fn()
        name, message = "no error", ""
    except (AimCLRError, NonFiniteLossError) as error:
        name, message = type(error).__name__, str(error)
    return name, message, all(torch.equal(a, b) for a, b in zip(before, state, strict=True))


def rejections() -> dict[str, tuple[str, str, bool]]:
    """Bad input on one rank, or too many rows over all ranks: every rank must raise."""
    generator = torch.Generator().manual_seed(5)
    queue = MomentumQueue(7, 4, generator=generator)
    keys = torch.randn(2, 4 if rank() == 0 else 5)  # rank 1 sends the wrong D
    model = build_model()
    state = [t for t in model.state_dict().values()]
    views = [torch.randn(BATCH, 3, 8, 5, 2, generator=generator) for _ in range(3)]
    bad_key = views[2] if rank() == 0 else views[2][..., 0]  # rank 1: a 4-d x_key
    losses = {"loss": torch.tensor(1.0 if rank() == 0 else float("nan"))}
    return {
        "queue": _outcome(lambda: queue.enqueue(keys), queue.keys, queue.ptr),
        # BATCH rows per rank, 2·BATCH = 12 in all, against K = 10.
        "total": _outcome(lambda: model(*views, epoch=1), *state),
        "view": _outcome(lambda: model(views[0], views[1], bad_key, epoch=1), *state),
        "finite": _outcome(lambda: check_finite_losses(losses, "step 1", all_ranks=True)),
    }


def worker(local_rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(  # a rank left waiting fails the test after the timeout
        "gloo", init_method=f"file://{init_file}", rank=local_rank, world_size=WORLD,
        timeout=timedelta(seconds=60),
    )
    try:
        assert is_distributed() and world_size() == WORLD and rank() == local_rank
        gathered = all_gather_no_grad(torch.full((local_rank + 1, 2), float(local_rank)))
        assert gathered.tolist() == [[0.0, 0.0], [1.0, 1.0], [1.0, 1.0]]
        half = BATCH // WORLD
        result = run(slice(local_rank * half, (local_rank + 1) * half), sync=True)
        result["rejections"] = rejections()
        torch.save(result, os.path.join(out_dir, f"rank{local_rank}.pt"))
        dist.barrier()
    finally:
        dist.destroy_process_group()
    # Gloo's worker threads can abort the interpreter's shutdown ("terminate called
    # without an active exception"); the results are on disk, so skip the shutdown.
    os._exit(0)


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_ranks_hold_the_queue_of_one_process_on_the_full_batch(tmp_path: Path) -> None:
    mp.spawn(worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    single = run(None, sync=False)
    for result in ranks:
        for name in ("queue_keys", "queue_ptr", "model_keys", "model_ptr"):
            assert torch.equal(result[name], ranks[0][name]), name  # identical on all ranks
            torch.testing.assert_close(result[name], single[name], rtol=0, atol=1e-6)
        torch.testing.assert_close(result["losses"], single["losses"], rtol=1e-5, atol=1e-6)
        for p_rank, p_single in zip(result["encoder_k"], single["encoder_k"], strict=True):
            torch.testing.assert_close(p_rank, p_single, rtol=1e-5, atol=1e-6)


    # Bad input on one rank stops every rank, before any state changes.
    own, other = ranks[1]["rejections"], ranks[0]["rejections"]
    stopped = "rank(s) [1] rejected their input (their own error says why)"
    assert own["queue"][:2] == ("AimCLRError", "keys must have layout (B, D) with D = 4, "
                                "got shape (2, 5), dtype torch.float32")  # fmt: skip
    assert own["view"][0] == "AimCLRError" and own["view"][1].startswith("x_key must have")
    assert other["queue"][1].startswith(stopped) and other["view"][1].startswith(stopped)
    for result in ranks:
        outcomes = result["rejections"]
        assert outcomes["total"][0] == "AimCLRError"
        assert outcomes["total"][1].startswith("the batch summed over ranks, 6 + 6 = 12, "
                                               "exceeds queue_size K = 10")  # fmt: skip
        assert outcomes["finite"][0] == "NonFiniteLossError"
        assert all(unchanged for _, _, unchanged in outcomes.values()), outcomes


def test_helpers_without_a_process_group() -> None:
    assert not is_distributed() and world_size() == 1 and rank() == 0
    x = torch.randn(3, 2, requires_grad=True)
    out = all_gather_no_grad(x)
    assert torch.equal(out, x) and not out.requires_grad
