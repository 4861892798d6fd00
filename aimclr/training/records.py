"""The files of a run: checkpoints, one JSON line per epoch, progress lines, results, pictures."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from aimclr.errors import AimCLRError
from aimclr.training.checkpoints import load_checkpoint, write_text_atomically
from aimclr.training.state import TrainingState

__all__ = ["RUN_FILES", "RunLog"]

_NOT_TERMS = ("epoch", "lr", "seconds", "samples_per_s")

RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl", "results.json", "curves.png",
             "confusion.png")  # fmt: skip
"""The files a run writes into its folder (:meth:`RunLog.clear` removes them)."""


class RunLog:
    """The folder of a run: checkpoints, ``metrics.jsonl``, progress lines, results.

    Every write of a run's record goes through here, on the main process only:
    construct it with ``enabled=False`` on the other ranks and every method that
    writes does nothing.

    The files: ``last.pt`` (the :class:`~aimclr.training.state.TrainingState` after
    the last epoch), ``best.pt`` (the state at the epoch with the best monitored
    score so far), ``metrics.jsonl`` (one JSON object per epoch), ``curves.png``
    (the curves of ``metrics.jsonl``, when the ``viz`` extra is installed) and what
    :meth:`write_json` writes. :meth:`commit_epoch` writes them in an order that
    keeps them in agreement through a kill at any moment, and :meth:`reconcile`
    rebuilds ``metrics.jsonl`` from the checkpoint after one.

    Args:
        folder: the run's folder; created when enabled.
        enabled: write and print (rank 0) or stay silent (other ranks).
        quiet: no per-epoch progress lines (files are still written).

    Example:
        >>> import tempfile
        >>> log = RunLog(tempfile.mkdtemp(), quiet=True)
        >>> log.epoch({"epoch": 1, "lr": 0.1, "loss": 2.5, "seconds": 2.0,
        ...            "samples_per_s": 16.0}, epochs=4)
        >>> log.metrics_path.read_text()
        '{"epoch": 1, "lr": 0.1, "loss": 2.5, "seconds": 2.0, "samples_per_s": 16.0}\\n'
    """

    def __init__(
        self, folder: str | os.PathLike[str], enabled: bool = True, quiet: bool = False
    ) -> None:
        self.folder = Path(folder)
        self.enabled, self.quiet = enabled, quiet
        self.started = time.perf_counter()
        if enabled:
            self.folder.mkdir(parents=True, exist_ok=True)

    @property
    def metrics_path(self) -> Path:
        """``FOLDER/metrics.jsonl``."""
        return self.folder / "metrics.jsonl"

    @property
    def last_path(self) -> Path:
        """``FOLDER/last.pt``: the state after the last completed epoch."""
        return self.folder / "last.pt"

    @property
    def best_path(self) -> Path:
        """``FOLDER/best.pt``: the state at the best monitored epoch so far."""
        return self.folder / "best.pt"

    @property
    def curves_path(self) -> Path:
        """``FOLDER/curves.png``: the training curves, when the ``viz`` extra is installed."""
        return self.folder / "curves.png"

    def run_files(self) -> list[Path]:
        """The files of :data:`RUN_FILES` that exist in the folder."""
        return [self.folder / name for name in RUN_FILES if (self.folder / name).exists()]

    def clear(self) -> list[Path]:
        """Remove the files of :data:`RUN_FILES` (to start a run over in this folder).

        Returns:
            The removed files (none when disabled).
        """
        if not self.enabled:
            return []
        removed = self.run_files()
        for path in removed:
            path.unlink()
        return removed

    def info(self, message: str) -> None:
        """Print ``message`` (on the main process)."""
        if self.enabled:
            print(message, flush=True)

    def epoch(self, record: Mapping[str, Any], epochs: int) -> None:
        """Append ``record`` as one JSON line to :attr:`metrics_path` and print progress.

        Args:
            record: JSON-ready values with at least ``epoch``, ``lr`` and
                ``samples_per_s`` (as :meth:`~aimclr.training.loop.EpochMetrics.record`
                gives), plus anything measured after the epoch (e.g. kNN accuracy).
            epochs: the last epoch of the run, for the time estimate.
        """
        if not self.enabled:
            return
        with open(self.metrics_path, "a", encoding="utf-8") as file:
            file.write(json.dumps(dict(record)) + "\n")
        if self.quiet:
            return
        elapsed = time.perf_counter() - self.started
        eta = math.ceil(max(0.0, elapsed / record["epoch"] * (epochs - record["epoch"])))
        terms = " ".join(f"{k} {v:.3f}" for k, v in record.items() if k not in _NOT_TERMS)
        print(f"epoch {record['epoch']:>3}/{epochs}  lr {record['lr']:.3g}  {terms}  "
              f"{record['samples_per_s']:.0f} samples/s  eta {eta // 60}:{eta % 60:02d}",
              flush=True)  # fmt: skip

    def commit_epoch(
        self,
        state: TrainingState,
        record: Mapping[str, Any],
        epochs: int,
        *,
        best_key: str | None = None,
        **extra: Any,
    ) -> bool:
        """Record a finished epoch: checkpoints, log line and curves, kill-safe.

        In this order: ``record`` is appended to ``state.records``; ``best.pt`` is
        written when ``record[best_key]`` beats every earlier record's (ties keep the
        earlier epoch); ``last.pt`` is written; the line is appended to
        ``metrics.jsonl``; ``curves.png`` is redrawn where matplotlib is installed.
        Both checkpoints are atomic and hold the records, so after a kill at any point
        ``last.pt`` holds either the previous epoch or this one with its record,
        ``best.pt`` is never behind the records of ``last.pt``, and
        :meth:`reconcile` restores a ``metrics.jsonl`` line that the kill cut short.

        Args:
            state: the run's state; ``state.epoch`` must be ``record["epoch"]``.
            record: the epoch's JSON-ready record with ``epoch``, ``lr`` and
                ``samples_per_s`` (:meth:`~aimclr.training.loop.EpochMetrics.record`
                and anything measured after it).
            epochs: the run's last epoch (for the progress line).
            best_key: the score that decides ``best.pt`` (higher is better), e.g.
                ``"knn1"``; ``None`` keeps no ``best.pt``.
            **extra: further checkpoint entries (see :meth:`TrainingState.save`).

        Returns:
            Whether ``best.pt`` was written (``False`` when disabled).

        Raises:
            AimCLRError: ``record["epoch"]`` is not ``state.epoch``, or not after the
                last record's epoch.
        """
        epoch = record.get("epoch")
        if epoch != state.epoch or (state.records and state.records[-1]["epoch"] >= epoch):
            last = state.records[-1]["epoch"] if state.records else None
            raise AimCLRError(
                f"the record's epoch {epoch!r} must equal state.epoch = {state.epoch} and "
                f"follow the last recorded epoch {last}"
            )
        if not self.enabled:
            return False
        earlier = [r[best_key] for r in state.records if best_key is not None and best_key in r]
        state.records.append(dict(record))
        best = best_key is not None and best_key in record and all(
            record[best_key] > value for value in earlier
        )
        if best:
            state.save(self.best_path, **extra)
        state.save(self.last_path, **extra)
        self.epoch(record, epochs)
        self.curves()
        return best

    def resume(
        self,
        state: TrainingState,
        map_location: str | torch.device | None = None,
        check: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Continue the run: load :attr:`last_path` into ``state``, then :meth:`reconcile`.

        Call it on every process (each loads the state; only an enabled log
        rewrites ``metrics.jsonl``). Nothing is written when the file is damaged
        or refused.

        Args:
            state: the new run's state, built as the saved one was.
            map_location: where tensors are loaded (see :meth:`TrainingState.load`).
            check: called with everything the file holds before ``state`` changes;
                raise to refuse (e.g. other run options).

        Returns:
            Everything the file holds.

        Raises:
            AimCLRError: the file is missing, damaged or does not fit ``state`` (see
                :func:`~aimclr.training.checkpoints.load_checkpoint` and
                :meth:`TrainingState.load_state_dict`), or ``check`` refused it.
        """
        if map_location is None:
            map_location = next(state.model.parameters(), torch.empty(0)).device
        saved = load_checkpoint(self.last_path, map_location=map_location)
        if check is not None:
            check(saved)
        try:
            state.load_state_dict(saved)
        except AimCLRError as error:
            raise AimCLRError(f"checkpoint {str(self.last_path)!r}: {error}") from None
        self.reconcile(state)
        return saved

    def read(self) -> list[dict[str, Any]]:
        """The records of :attr:`metrics_path`; lines that do not parse (a write cut
        short by a kill) are left out."""
        if not self.metrics_path.exists():
            return []
        records = []
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("epoch"), int):
                records.append(record)
        return records

    def rewrite(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Replace :attr:`metrics_path` by ``records`` in one atomic write."""
        if self.enabled:
            text = "".join(json.dumps(dict(record)) + "\n" for record in records)
            write_text_atomically(self.metrics_path, text)

    def reconcile(self, state: TrainingState) -> None:
        """Make ``metrics.jsonl`` agree with a state just loaded from ``last.pt``.

        The log becomes exactly ``state.records`` (lines after the checkpoint's epoch
        dropped, lines a kill cut off restored), written atomically. A state without
        records (a checkpoint written before they were saved) keeps the log's lines up
        to its epoch.
        """
        if not self.enabled:
            return
        if state.records or state.epoch == 0:
            self.rewrite(state.records)
        else:
            self.rewrite([r for r in self.read() if r["epoch"] <= state.epoch])

    def curves(self) -> Path | None:
        """Draw ``metrics.jsonl`` as :attr:`curves_path`, if matplotlib is installed.

        Returns:
            The picture, or ``None`` (disabled, no matplotlib, or no log yet).
        """
        if not self.enabled or not self.metrics_path.exists():
            return None
        from aimclr.viz import save_if_available, save_training_curves  # optional extra

        return save_if_available(save_training_curves, self.metrics_path, self.curves_path)

    def confusion(
        self,
        predictions: torch.Tensor,
        labels: torch.Tensor,
        class_names: Sequence[str] = (),
        title: str | None = None,
    ) -> Path | None:
        """Draw a confusion matrix as ``FOLDER/confusion.png``, if matplotlib is installed
        (:func:`~aimclr.viz.evaluation.save_confusion_matrix`, rows normalised).

        Args:
            predictions: ``(N,)`` predicted classes.
            labels: ``(N,)`` true classes.
            class_names: axis labels; empty = class numbers.
            title: figure title.

        Returns:
            The picture, or ``None`` (disabled or no matplotlib).
        """
        if not self.enabled:
            return None
        from aimclr.viz import save_confusion_matrix, save_if_available  # optional extra

        return save_if_available(save_confusion_matrix, predictions, labels,
                                 self.folder / "confusion.png", list(class_names) or None,
                                 title=title)  # fmt: skip

    def write_json(self, name: str, value: Any) -> Path | None:
        """Write ``value`` as indented JSON to ``FOLDER/name`` (atomically); the path, or
        ``None`` when disabled."""
        if not self.enabled:
            return None
        return write_text_atomically(self.folder / name, json.dumps(value, indent=2) + "\n")
