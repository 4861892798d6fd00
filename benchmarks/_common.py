"""Helpers shared by the benchmark scripts: timing, FLOP counting, machine facts, tables.

Timing is round-robin: every repeat calls each case once, so a change in machine load
during a run (other jobs on a shared box) affects all cases alike; reported times are
medians over the repeats. Times are wall-clock unless :func:`use_cpu_time` switched them
to the process's CPU time, which other jobs on a busy machine disturb much less but which
equals the wall time of a computation only when it runs on one thread.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

SGEMM_SIZE = 2048

_clock: Callable[[], float] = time.perf_counter


def use_cpu_time() -> None:
    """Time with the process's CPU time from now on (meaningful with one thread only)."""
    global _clock
    _clock = time.process_time


def using_cpu_time() -> bool:
    """Whether :func:`use_cpu_time` switched the clock to CPU time."""
    return _clock is time.process_time


def clock() -> float:
    """The current reading of the benchmark clock (wall or CPU time), in seconds."""
    return _clock()


def median_seconds(
    cases: dict[str, Callable[[], object]], repeats: int, warmup: int = 2
) -> dict[str, float]:
    """Median time per case, timing the cases round-robin after ``warmup`` rounds."""
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn`` as counted by FlopCounterMode (convolutions, matmuls)."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops()


def sgemm_case(
    size: int = SGEMM_SIZE, dtype: torch.dtype = torch.float32, device: str = "cpu"
) -> tuple[Callable[[], object], int]:
    """A ``size``³ matmul (float32 unless ``dtype``) and its FLOPs: the reference rate."""
    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)

    def sgemm() -> None:
        torch.mm(a, b)

    return sgemm, 2 * size**3


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where available)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU model, core count, load, torch version and threads, for the results header."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_1m": round(load[0], 2),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "mkldnn": torch.backends.mkldnn.is_available(),
    }


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; floats are printed with up to 3 significant decimals."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            if value != value:  # NaN: not applicable
                return "-"
            return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results_section(text: str, title: str, path: Path) -> None:
    """Replace (or append) the section headed ``title`` of ``path``, nothing else.

    Args:
        text: the whole section, starting with ``title``.
        title: its ``## `` heading line.
        path: the results file (``benchmarks/results.md``).
    """
    content = path.read_text(encoding="utf-8") if path.exists() else ""
    start = content.find(title)
    if start < 0:
        content = content.rstrip("\n") + "\n\n" + text
    else:
        end = content.find("\n## ", start + len(title))
        content = content[:start] + text + ("" if end < 0 else content[end:])
    path.write_text(content, encoding="utf-8")
