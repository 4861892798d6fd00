"""The written record of a run: one JSON line per epoch, progress lines, result files."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["RunLog"]

_NOT_TERMS = ("epoch", "lr", "seconds", "samples_per_s")


class RunLog:
    """Epoch records in ``metrics.jsonl``, progress on stdout, results as JSON files.

    Every write of a run's record goes through here, on the main process only:
    construct it with ``enabled=False`` on the other ranks and every method does
    nothing.

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

    def write_json(self, name: str, value: Any) -> Path | None:
        """Write ``value`` as indented JSON to ``FOLDER/name``; the path, or ``None``
        when disabled."""
        if not self.enabled:
            return None
        path = self.folder / name
        path.write_text(json.dumps(value, indent=2) + "\n")
        return path
