"""A one-line progress bar on stderr (no dependency)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """Counts done out of a total, with rate and time left, redrawn in place.

    On a terminal the line is redrawn at most ten times a second; when the stream
    is not a terminal (a log file) one line is written per tenth of the work.

    Args:
        total: the amount of work.
        label: text before the bar.
        unit: what is counted, e.g. ``"samples"``.
        stream: where to write; ``None`` means ``sys.stderr``.
        enabled: ``False`` writes nothing.
    """

    def __init__(
        self,
        total: int,
        label: str,
        unit: str = "items",
        stream: TextIO | None = None,
        enabled: bool = True,
    ) -> None:
        self.total = total
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.done = 0
        self._start = time.perf_counter()
        self._last_draw = -1.0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._next_tenth = 1

    def update(self, amount: int = 1) -> None:
        """Add ``amount`` to the work done and redraw when due."""
        self.done += amount
        if not self.enabled:
            return
        now = time.perf_counter()
        if self._tty:
            if now - self._last_draw >= 0.1 or self.done >= self.total:
                self._last_draw = now
                self.stream.write("\r" + self._line(now))
                self.stream.flush()
        elif self.total and self.done * 10 >= self._next_tenth * self.total:
            self._next_tenth = self.done * 10 // self.total + 1
            self.stream.write(self._line(now) + "\n")
            self.stream.flush()

    def close(self) -> None:
        """End the line."""
        if self.enabled and self._tty:
            self.stream.write("\r" + self._line(time.perf_counter()) + "\n")
            self.stream.flush()

    def _line(self, now: float) -> str:
        elapsed = max(now - self._start, 1e-9)
        fraction = self.done / self.total if self.total else 1.0
        filled = round(24 * fraction)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        return (
            f"{self.label} [{'#' * filled}{'.' * (24 - filled)}] {self.done}/{self.total} "
            f"{self.unit}, {rate:.0f}/s, {_clock(elapsed)} elapsed, {_clock(left)} left"
        )


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
