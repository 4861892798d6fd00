"""Everything a resumed pre-training run needs, as one object."""

from __future__ import annotations

import copy
import itertools
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from aimclr.errors import AimCLRError, AimCLRWarning
from aimclr.training.checkpoints import load_checkpoint, save_checkpoint
from aimclr.training.rng import check_rng_state, get_rng_state, set_rng_state

__all__ = ["TrainingState"]

_REQUIRED = ("model", "optimizer", "epoch", "rng")


class TrainingState:
    """Model (with its queue), optimiser, scaler, scheduler, epoch and RNG states.

    :meth:`state_dict` captures them all, :meth:`load_state_dict` restores them all
    or, when anything does not fit, nothing; :meth:`save` and :meth:`load` do the
    same through an atomic checkpoint file
    (:func:`~aimclr.training.checkpoints.save_checkpoint`). The objects are held by
    reference: training them advances the state.

    Args:
        model: the model whose ``state_dict`` is saved: an
            :class:`~aimclr.model.AimCLR` (its queue is a buffer, saved with the
            weights) or any module; a ``DistributedDataParallel`` wrapper is
            unwrapped, so the checkpoint loads into a single-process model too.
        optimizer: the optimiser.
        scaler: the float16 gradient scaler, if any.
        scheduler: a learning-rate scheduler, if the run uses one (a stateless
            schedule such as :func:`~aimclr.training.schedule.step_lr` needs none).
        epoch: the last completed epoch (0 before training).
        records: the run's epoch records so far (one JSON-ready dict per epoch with
            at least ``epoch``; :meth:`~aimclr.training.records.RunLog.commit_epoch`
            appends them). Saved with the state, so that the run's log can be rebuilt
            from the checkpoint after a kill
            (:meth:`~aimclr.training.records.RunLog.reconcile`).

    Example:
        >>> model = torch.nn.Linear(2, 1)
        >>> state = TrainingState(model, torch.optim.SGD(model.parameters(), lr=0.1))
        >>> state.epoch = 3
        >>> saved = state.state_dict()
        >>> sorted(saved)
        ['epoch', 'model', 'optimizer', 'records', 'rng']
        >>> state.epoch = 0
        >>> state.load_state_dict(saved)
        >>> state.epoch
        3
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        scaler: torch.amp.GradScaler | None = None,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        epoch: int = 0,
        records: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.model = model.module if isinstance(model, DistributedDataParallel) else model
        self.optimizer = optimizer
        self.scaler = scaler
        self.scheduler = scheduler
        self.epoch = epoch
        self.records: list[dict[str, Any]] = [dict(record) for record in records]

    def state_dict(self) -> dict[str, Any]:
        """The states by name: ``model``, ``optimizer``, ``epoch``, ``rng`` (the global
        generators, :func:`~aimclr.training.rng.get_rng_state`), ``records`` (copies of
        the epoch records), and ``scaler`` and ``scheduler`` where present. Every value
        is a tensor, number, string or container of them, so
        :func:`~aimclr.training.checkpoints.load_checkpoint` reads it with
        ``weights_only=True``."""
        state: dict[str, Any] = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "rng": get_rng_state(),
            "records": [dict(record) for record in self.records],
        }
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` captured, including the global RNG states.

        A saved ``scaler`` or ``scheduler`` is restored where this state has one
        (a run may switch float16 autocast on or off when it resumes); a scheduler
        saved but not given here, or given but not saved, is warned about (the
        learning rate would silently leave the schedule); a state
        without ``records`` (written before they were saved) leaves :attr:`records`
        empty; other keys (e.g. a run's options saved with :meth:`save`) are ignored.

        Warns:
            AimCLRWarning: a scheduler state saved but no ``scheduler`` here, or the
                reverse.

        Raises:
            AimCLRError: a required key is missing, the epoch is not an int >= 0,
                the model's parameter and buffer names or shapes differ, the
                optimiser's parameter groups differ in number or size, or the RNG
                states or records are malformed; raised before anything is restored.
                Should torch still refuse a value, everything is put back as it was
                before the error is raised.
        """
        self._check_loadable(state)
        self._warn_scheduler_mismatch(state)
        before = self._snapshot()
        try:
            self._restore(state)
        except Exception as error:
            self._restore(before)
            raise AimCLRError(f"the saved state does not load (nothing was changed): "
                              f"{type(error).__name__}: {error}") from error  # fmt: skip

    def _warn_scheduler_mismatch(self, state: Mapping[str, Any]) -> None:
        """A schedule saved but not rebuilt (or the reverse) silently changes the lr."""
        if "scheduler" in state and self.scheduler is None:
            lrs = [group.get("lr") for group in state["optimizer"].get("param_groups", [])]
            warnings.warn(
                f"the saved state holds a learning-rate scheduler's state but this "
                f"TrainingState has no scheduler: the learning rate stays at the saved "
                f"optimiser's {lrs} "
                f"instead of following the schedule; build the same scheduler and pass "
                f"TrainingState(..., scheduler=...)",
                AimCLRWarning,
                stacklevel=3,
            )
        elif "scheduler" not in state and self.scheduler is not None:
            warnings.warn(
                f"this TrainingState has a {type(self.scheduler).__name__} but the saved state "
                f"holds none: the scheduler is left as built (at its start), while the run "
                f"resumes after epoch {state['epoch']}",
                AimCLRWarning,
                stacklevel=3,
            )

    def _snapshot(self) -> dict[str, Any]:
        """A copy of the current state that loading the saved one cannot change."""
        current = self.state_dict()
        snapshot = {key: copy.deepcopy(value) for key, value in current.items() if key != "model"}
        snapshot["model"] = {k: v.detach().clone() for k, v in current["model"].items()}
        return snapshot

    def _restore(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        if self.scheduler is not None and "scheduler" in state:
            self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        self.epoch = int(state["epoch"])
        self.records = [dict(record) for record in state.get("records", ())]

    def save(self, path: str | os.PathLike[str], **extra: Any) -> Path:
        """Write :meth:`state_dict` and ``extra`` entries atomically to ``path``.

        Args:
            path: the checkpoint file; parent folders are created.
            **extra: further entries, e.g. ``args=vars(args)``; plain containers,
                numbers, strings and tensors, so the file loads with
                ``weights_only=True``. Their names must differ from the state's.

        Returns:
            The path written.

        Raises:
            AimCLRError: an ``extra`` name is one of the state's; nothing is written.
        """
        state = self.state_dict()
        clashes = sorted(set(extra) & {*state, "scaler", "scheduler", "records"})
        if clashes:
            raise AimCLRError(f"extra entries {clashes} would overwrite the training state")
        return save_checkpoint({**state, **extra}, path)

    def load(
        self, path: str | os.PathLike[str], map_location: str | torch.device | None = None
    ) -> dict[str, Any]:
        """Restore the state saved in ``path`` (see :meth:`load_state_dict`).

        Args:
            path: a checkpoint written by :meth:`save`.
            map_location: where tensors are loaded; ``None`` = the device of the
                model's first parameter.

        Returns:
            Everything the file holds, including the ``extra`` entries of :meth:`save`.

        Raises:
            AimCLRError: the file is missing, damaged (see
                :func:`~aimclr.training.checkpoints.load_checkpoint`) or does not fit;
                the message names the file and nothing is restored.
        """
        if map_location is None:
            map_location = next(self.model.parameters(), torch.empty(0)).device
        saved = load_checkpoint(path, map_location=map_location)
        try:
            self.load_state_dict(saved)
        except AimCLRError as error:
            raise AimCLRError(f"checkpoint {str(path)!r}: {error}") from None
        return saved

    def _check_loadable(self, state: Mapping[str, Any]) -> None:
        missing = [key for key in _REQUIRED if key not in state]
        if missing:
            raise AimCLRError(
                f"a training state needs the keys {list(_REQUIRED)}, missing {missing}"
            )
        epoch = state["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise AimCLRError(f"the saved epoch must be an int >= 0, got {epoch!r}")
        check_rng_state(state["rng"])
        _check_records(state.get("records", []), epoch)
        own = self.model.state_dict()
        saved = state["model"]
        if not isinstance(saved, Mapping):
            raise AimCLRError(f"the saved model must be a state dict, got {type(saved).__name__}")
        absent = [name for name in own if name not in saved]
        unexpected = [name for name in saved if name not in own]
        reshaped = [f"{name} {_shape(saved[name])} vs {_shape(own[name])}"
                    for name in own if name in saved and _shape(saved[name]) != _shape(own[name])]
        if absent or unexpected or reshaped:
            raise AimCLRError(
                "the saved model does not fit this model (nothing was loaded): missing "
                f"{absent[:5]}, unexpected {unexpected[:5]}, shapes differ (saved vs "
                f"this) {reshaped[:5]}"
            )
        own_groups = [len(g["params"]) for g in self.optimizer.state_dict()["param_groups"]]
        optimizer = state["optimizer"]
        groups = optimizer.get("param_groups") if isinstance(optimizer, Mapping) else None
        if (not isinstance(groups, list) or not isinstance(optimizer.get("state"), Mapping)
                or not all(isinstance(g, Mapping) and isinstance(g.get("params"), list)
                           for g in groups)):  # fmt: skip
            keys = sorted(map(str, optimizer))[:5] if isinstance(optimizer, Mapping) else []
            raise AimCLRError(
                "the saved optimiser must be an optimiser state dict (a dict with 'state' "
                "and 'param_groups', each group with its 'params'), got "
                f"{type(optimizer).__name__} {keys}"
            )
        saved_groups = [len(g["params"]) for g in groups]
        if own_groups != saved_groups:
            raise AimCLRError(
                "the saved optimiser does not fit this optimiser (nothing was loaded): "
                f"parameters per group {saved_groups} saved, {own_groups} here"
            )


def _check_records(records: object, epoch: int) -> None:
    """Raise unless ``records`` is a list of dicts with ascending epochs up to ``epoch``."""
    if not isinstance(records, list) or not all(
        isinstance(r, Mapping) and isinstance(r.get("epoch"), int) for r in records
    ):
        raise AimCLRError(
            "the saved records must be a list of dicts, each with an int 'epoch', got "
            f"{type(records).__name__}"
        )
    epochs = [r["epoch"] for r in records]
    ascending = all(a < b for a, b in itertools.pairwise(epochs))
    if not ascending or (epochs and not 1 <= epochs[0] <= epochs[-1] <= epoch):
        raise AimCLRError(
            f"the saved records must have ascending epochs in [1, {epoch}] (the saved "
            f"epoch), got epochs {epochs[:3]}...{epochs[-3:]}"
        )


def _shape(value: object) -> tuple[int, ...] | None:
    shape = getattr(value, "shape", None)
    return None if shape is None else tuple(shape)
