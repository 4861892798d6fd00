"""One epoch of AimCLR pre-training: views on the device, autocast, DDP-aware sampling."""

from __future__ import annotations

import contextlib
import itertools
import math
import time
import warnings
from collections.abc import Callable, Sized
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler

from aimclr.errors import AimCLRError, AimCLRWarning, NonFiniteInputError
from aimclr.nn.distributed import rank, world_size
from aimclr.training.finite import check_finite_losses, nonfinite_samples
from aimclr.training.rng import epoch_seed
from aimclr.training.views import PretrainViews, ViewMaker

__all__ = ["EpochMetrics", "NonFiniteBatches", "StepMetrics", "epoch_loader", "pretrain_epoch"]

NonFiniteBatches = Literal["error", "skip"]
"""What :func:`pretrain_epoch` does with a batch holding NaN or infinite values."""


@dataclass(frozen=True)
class StepMetrics:
    """What :func:`pretrain_epoch` passes to ``on_step`` after each optimiser step.

    Attributes:
        epoch: 1-based epoch.
        step: 1-based step within the epoch.
        batch_size: samples of this step on this process.
        losses: the model output's :meth:`~aimclr.model.AimCLROutput.losses`:
            detached scalar tensors on the training device. Reading them as Python
            numbers (``float(value)``) waits for the device; do that every few steps
            on a GPU, not at every step.
        grad_norm: total gradient norm before clipping (a scalar tensor), when
            ``max_grad_norm`` is set; else ``None``.
    """

    epoch: int
    step: int
    batch_size: int
    losses: dict[str, torch.Tensor]
    grad_norm: torch.Tensor | None = None


@dataclass(frozen=True)
class EpochMetrics:
    """Summary of one epoch of :func:`pretrain_epoch` on this process.

    Attributes:
        epoch: 1-based epoch.
        lr: learning rate of the first parameter group during the epoch.
        losses: mean of every loss term over the epoch's steps, by name, in the
            order of :meth:`~aimclr.model.AimCLROutput.losses`.
        steps: optimiser steps taken.
        samples: samples seen by all processes together (this process's samples ×
            world size).
        seconds: wall-clock time of the epoch.
        skipped: batches left out because they held NaN or infinite values
            (``nonfinite="skip"``).
    """

    epoch: int
    lr: float
    losses: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    samples: int = 0
    seconds: float = 0.0
    skipped: int = 0

    @property
    def samples_per_s(self) -> float:
        """Throughput of all processes together."""
        return self.samples / self.seconds if self.seconds > 0 else math.inf

    def record(self) -> dict[str, Any]:
        """A flat, JSON-ready dictionary: ``epoch``, ``lr``, the loss terms,
        ``seconds`` and ``samples_per_s`` (one line of a ``metrics.jsonl``), and
        ``skipped_batches`` when batches were skipped."""
        record = {"epoch": self.epoch, "lr": self.lr, **self.losses, "seconds": self.seconds,
                  "samples_per_s": self.samples_per_s}  # fmt: skip
        if self.skipped:
            record["skipped_batches"] = self.skipped
        return record


def epoch_loader(
    dataset: Dataset[Any],
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader[Any]:
    """Shuffled full batches whose order depends only on ``(seed, epoch)``: resumable.

    One process shuffles with a generator seeded by :func:`~aimclr.training.rng.epoch_seed`.
    Under ``torch.distributed`` a :class:`~torch.utils.data.DistributedSampler`
    (seeded with ``seed``, set to ``epoch``, ``drop_last=True``) gives each rank
    its own share of a permutation. The last incomplete batch is dropped.

    Args:
        dataset: a map-style data set.
        batch_size: samples per batch on each process.
        seed: the run's seed.
        epoch: 1-based epoch.
        num_workers: DataLoader worker processes.
        pin_memory: page-locked batches, for copies to a GPU.

    Returns:
        The epoch's :class:`~torch.utils.data.DataLoader`.
    """
    sampler: DistributedSampler[Any] | RandomSampler
    if world_size() > 1:
        sampler = DistributedSampler(dataset, world_size(), rank(), shuffle=True, seed=seed,
                                     drop_last=True)  # fmt: skip
        sampler.set_epoch(epoch)
    else:
        generator = torch.Generator().manual_seed(epoch_seed(seed, epoch))
        sampler = RandomSampler(cast(Sized, dataset), generator=generator)
    return DataLoader(dataset, batch_size, sampler=sampler, drop_last=True,
                      num_workers=num_workers, pin_memory=pin_memory)  # fmt: skip


def pretrain_epoch(
    model: nn.Module,
    data: Dataset[Any] | DataLoader[Any],
    views: ViewMaker | None,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    *,
    batch_size: int | None = None,
    seed: int = 0,
    lr: float | None = None,
    device: torch.device | str | None = None,
    amp_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
    max_grad_norm: float | None = None,
    num_workers: int = 0,
    on_step: Callable[[StepMetrics], None] | None = None,
    nonfinite: NonFiniteBatches = "error",
) -> EpochMetrics:
    """Train ``model`` for one epoch of AimCLR pre-training.

    For every batch of :func:`epoch_loader`: check ``x`` for NaN and infinity on
    the host (:func:`~aimclr.training.finite.nonfinite_samples`, before anything
    changes; see ``nonfinite``), move it to ``device`` as float32, draw the views
    there with ``views``, run ``model(x_extreme, x_query, x_key,
    epoch=epoch)`` under autocast, stop with
    :class:`~aimclr.training.finite.NonFiniteLossError` before the optimiser step if
    a loss term is not finite (on every rank together), then back-propagate (scaled
    with ``scaler``), clip the gradient norm and step.

    Every random draw of the epoch derives from ``(seed, epoch, rank)``: the global
    torch generator (dropout, EADM) is seeded with ``epoch_seed(seed, epoch, rank)``,
    the views draw from a generator seeded with ``epoch_seed(seed + 1, epoch, rank)``
    and the batch order from :func:`epoch_loader`. So epoch ``e`` of a resumed run
    repeats the uninterrupted run exactly, whatever happened before.

    The model may be any module called that way whose output has a scalar ``loss``
    and a ``losses()`` dictionary, as :class:`~aimclr.model.AimCLROutput`: an
    :class:`~aimclr.model.AimCLR` around any encoder, or a
    ``DistributedDataParallel`` wrapping one. Under ``torch.distributed`` each rank
    trains on its share of the data; call this on every rank.

    The only device synchronisation per step is the finite check of the losses (one
    for all terms); the loss means are summed on the device and read once at the
    end. The input check reads the batch on the host, before it is copied to the
    device: one summation (about 28 µs for a ``(32, 3, 25, 25, 1)`` batch, 0.27 ms
    for ``(128, 3, 50, 25, 2)``, on one CPU thread). Under ``torch.distributed`` the
    ranks agree on it with one small ``all_reduce`` per step (with NCCL, a device
    synchronisation).

    Args:
        model: the model, in place; set to train mode.
        data: a map-style data set of ``x (C, T, V, M)`` or ``(x, label, ...)``
            samples (labels are not used), batched by :func:`epoch_loader`; or a
            :class:`~torch.utils.data.DataLoader` of such batches, used as it is (its
            batch order is then yours to make resumable).
        views: maps a batch ``(N, C, T, V, M)`` to ``(x_extreme, x_query, x_key)``,
            see :class:`~aimclr.training.views.ViewMaker`; ``None`` =
            ``PretrainViews(extreme=model.extreme_views)`` (the reference views of the
            model's configuration, joint stream, NTU layout).
        optimizer: steps the model's trainable parameters.
        epoch: 1-based epoch (decides InfoNCE or NNM, and the seeds).
        batch_size: samples per step on each process; needed with a data set, not
            with a DataLoader.
        seed: the run's seed.
        lr: learning rate for every parameter group during this epoch (e.g.
            :func:`~aimclr.training.schedule.step_lr`); ``None`` leaves the
            optimiser's (e.g. for a ``torch.optim.lr_scheduler``).
        device: where batches go; ``None`` = the device of the model's first
            parameter.
        amp_dtype: autocast dtype, ``torch.bfloat16`` or ``torch.float16``;
            ``None`` trains in full precision.
        scaler: gradient scaler, needed with ``torch.float16`` autocast.
        max_grad_norm: clip the total gradient norm of the optimiser's parameters
            to this value (after unscaling); ``None`` does not clip.
        num_workers: DataLoader worker processes (with a data set).
        on_step: called with :class:`StepMetrics` after every optimiser step.
        nonfinite: a batch holding NaN or infinite values (on any rank) is either
            refused (``"error"``: :class:`~aimclr.errors.NonFiniteInputError`
            naming the epoch, step and samples) or left out with an
            :class:`~aimclr.errors.AimCLRWarning` (``"skip"``, counted in
            :attr:`EpochMetrics.skipped`). Either way the model, its queue and
            BatchNorm statistics, and the optimiser never see the batch.

    Returns:
        The epoch's :class:`EpochMetrics`.

    Raises:
        AimCLRError: bad arguments, fewer samples than one batch per process, or
            every batch skipped; raised before anything changes.
        NonFiniteInputError: ``nonfinite="error"`` and a batch holds NaN or
            infinite values; raised before the model sees it. With a data set (not
            a DataLoader) the message gives the samples' indices in the data set.
        NonFiniteLossError: a loss term became NaN or infinite (on any rank); the
            optimiser step of that batch is not taken.

    Example:
        >>> from aimclr import AimCLR, STGCN
        >>> from aimclr.data import SyntheticActionDataset
        >>> model = AimCLR(STGCN(hidden_channels=2, hidden_dim=8), feature_dim=4, queue_size=16)
        >>> optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        >>> data = SyntheticActionDataset(16, num_frames=8)
        >>> metrics = pretrain_epoch(model, data, None, optimizer, epoch=1, batch_size=8)
        >>> metrics.steps, sorted(metrics.losses)
        (2, ['d3m', 'd3m_extreme', 'd3m_extreme_drop', 'd3m_kl', 'info_nce', 'loss'])
    """
    _check_arguments(epoch, batch_size, lr, amp_dtype, max_grad_norm)
    if nonfinite not in ("error", "skip"):
        raise AimCLRError(f"nonfinite must be 'error' or 'skip', got {nonfinite!r}")
    started = time.perf_counter()
    target = _model_device(model) if device is None else torch.device(device)
    indexed = not isinstance(data, DataLoader)
    if isinstance(data, DataLoader):
        if batch_size is not None:
            raise AimCLRError("batch_size is the DataLoader's own; pass batch_size=None "
                              "with a DataLoader, or pass its data set")  # fmt: skip
        loader = data
    elif batch_size is None:
        raise AimCLRError("batch_size is needed to batch a data set (or pass a DataLoader)")
    else:
        # Each sample comes with its index (the order is the same: samplers only read
        # the length), so a bad sample can be named.
        loader = epoch_loader(_WithIndices(data), batch_size, seed=seed, epoch=epoch,
                              num_workers=num_workers, pin_memory=target.type == "cuda")
    if isinstance(loader.sampler, Sized) and len(loader) == 0:
        raise AimCLRError(
            f"the training set ({len(cast(Sized, loader.dataset))} samples) has fewer samples "
            f"than one batch of {loader.batch_size} per process ({world_size()} process(es)); "
            "lower batch_size"
        )
    if views is None:
        core = model.module if isinstance(model, DistributedDataParallel) else model
        views = PretrainViews(extreme=bool(getattr(core, "extreme_views", True)))
    if lr is not None:
        for group in optimizer.param_groups:
            group["lr"] = lr
    this_rank = rank()
    torch.manual_seed(epoch_seed(seed, epoch, this_rank))
    generator = torch.Generator().manual_seed(epoch_seed(seed + 1, epoch, this_rank))
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    autocast = (torch.autocast(target.type, dtype=amp_dtype) if amp_dtype is not None
                else contextlib.nullcontext())  # fmt: skip

    model.train()
    totals: dict[str, torch.Tensor] = {}
    steps = rows = skipped = 0
    for step, batch in enumerate(loader, start=1):
        batch, indices = batch if indexed else (batch, None)
        x = _batch_input(batch)
        bad = _nonfinite_on_any_rank(x, target)
        if bad is not None:
            message = _nonfinite_message(bad, indices, epoch, step)
            if nonfinite == "error":
                raise NonFiniteInputError(
                    f"{message}; stopping before the model sees them, so this batch changed "
                    f"nothing{_steps_done(steps)}. Repair or remove those samples, "
                    "or skip such batches (nonfinite='skip')"
                )
            warnings.warn(f"{message}; the batch is skipped", AimCLRWarning, stacklevel=2)
            skipped += 1
            continue
        x = x.to(target, non_blocking=True).float()
        x_extreme, x_query, x_key = views(x, generator=generator)
        with autocast:
            out = model(x_extreme, x_query, x_key, epoch=epoch)
        losses: dict[str, torch.Tensor] = out.losses()
        check_finite_losses(losses, f"epoch {epoch}, step {step}", all_ranks=True)
        grad_norm = _optimizer_step(out.loss, optimizer, scaler, parameters, max_grad_norm)
        # Sums in float64 on the device, in step order: the same numbers as adding
        # the Python floats of every step, without waiting for the device.
        for name, value in losses.items():
            total = totals.get(name)
            totals[name] = value.double() if total is None else total + value.double()
        steps += 1
        rows += x.shape[0]
        if on_step is not None:
            on_step(StepMetrics(epoch, step, x.shape[0], losses, grad_norm))
    if steps == 0:
        if skipped:
            raise AimCLRError(f"every batch of epoch {epoch} ({skipped}) held NaN or infinite "
                              "values and was skipped; nothing trained")  # fmt: skip
        raise AimCLRError("the DataLoader gave no batches; the epoch trained nothing")
    means = [float(total) / steps for total in torch.stack(list(totals.values())).tolist()]
    seconds = time.perf_counter() - started
    return EpochMetrics(
        epoch=epoch,
        lr=float(optimizer.param_groups[0]["lr"]),
        losses=dict(zip(totals, means, strict=True)),
        steps=steps,
        samples=rows * world_size(),
        seconds=seconds,
        skipped=skipped,
    )


def _optimizer_step(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    parameters: list[torch.Tensor],
    max_grad_norm: float | None,
) -> torch.Tensor | None:
    """Back-propagate ``loss`` (scaled), clip, step; the gradient norm before clipping."""
    optimizer.zero_grad(set_to_none=True)
    grad_norm = None
    if scaler is None:
        loss.backward()  # type: ignore[no-untyped-call]
        if max_grad_norm is not None:
            grad_norm = nn.utils.clip_grad_norm_(parameters, max_grad_norm)
        optimizer.step()
        return grad_norm
    scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
    if max_grad_norm is not None:
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        grad_norm = nn.utils.clip_grad_norm_(parameters, max_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    return grad_norm


def _check_arguments(epoch: int, batch_size: int | None, lr: float | None,
                     amp_dtype: torch.dtype | None, max_grad_norm: float | None) -> None:
    for value, name in ((epoch, "epoch"), (batch_size, "batch_size")):
        if name == "batch_size" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AimCLRError(f"{name} must be an int >= 1, got {value!r}")
    for number, name in ((lr, "lr"), (max_grad_norm, "max_grad_norm")):
        if number is not None and not (isinstance(number, (int, float)) and 0 < number < math.inf):
            raise AimCLRError(f"{name} must be None or a positive finite number, got {number!r}")
    if amp_dtype not in (None, torch.bfloat16, torch.float16):
        raise AimCLRError(f"amp_dtype must be None, torch.bfloat16 or torch.float16, "
                          f"got {amp_dtype!r}")  # fmt: skip


class _WithIndices(Dataset[tuple[Any, int]]):
    """``(dataset[i], i)``: a data set's samples with their indices."""

    def __init__(self, dataset: Dataset[Any]) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(cast(Sized, self.dataset))

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return self.dataset[index], index


def _nonfinite_on_any_rank(x: torch.Tensor, device: torch.device) -> list[int] | None:
    """The bad samples of this rank's batch; ``None`` when every rank's batch is finite."""
    bad = nonfinite_samples(x)
    if world_size() > 1:
        flag = torch.tensor([1 if bad else 0], device=device)
        torch.distributed.all_reduce(flag)
        return bad if int(flag.item()) else None  # every rank skips or stops together
    return bad or None


def _steps_done(steps: int) -> str:
    """What the earlier optimiser steps of the epoch did, for the message that stops it."""
    if steps <= 0:
        return " (no step of this epoch ran: the model is as it was before the epoch)"
    return (f" ({steps} earlier optimiser step(s) of this epoch did update the model: "
            f"resume from the last checkpoint to repeat the epoch)")  # fmt: skip


def _nonfinite_message(bad: list[int], indices: Any, epoch: int, step: int) -> str:
    where = f"epoch {epoch}, step {step}"
    if not bad:
        return f"{where}: the batch of another rank holds NaN or infinite values"
    shown = bad[:10] if indices is None else [int(indices[i]) for i in bad[:10]]
    what = "samples at positions" if indices is None else "data set samples"
    more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
    return f"{where}: {what} {shown}{more} of the batch hold NaN or infinite values"


def _model_device(model: nn.Module) -> torch.device:
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _batch_input(batch: Any) -> torch.Tensor:
    """``x`` of a batch: the batch itself, or the first item of ``(x, label, ...)``."""
    x = batch[0] if isinstance(batch, (tuple, list)) else batch
    if not isinstance(x, torch.Tensor):
        raise AimCLRError(
            f"the data set must yield x (C, T, V, M) tensors or (x, label) pairs, got batches "
            f"of {type(x).__name__}"
        )
    return x
