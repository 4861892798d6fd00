"""CPU cost of one AimCLR pre-training step, against a reference-like baseline and the official.

Run with ``python benchmarks/bench_step.py [--quick] [--official DIR]``. One step of the
``"aimclr"`` preset (``STGCN(hidden_channels=16, hidden_dim=256)``, NTU layout, 2 persons,
dropout 0.5): the forward of all three views (normal query, extreme view with its
EADM-dropped copy, key under ``no_grad``), ``loss.backward()`` and an SGD step
(momentum 0.9, weight decay 1e-4), in stage 1 (InfoNCE + D3M) or stage 2 (NNM + D3M).
The views are precomputed with ``AimCLRViews``, so only the step is timed.

Variants, each in its own worker process (so each has its own allocator settings), timed
round-robin by this process, one step of each per round, medians over the rounds:

* ``library``: this library's step; the worker calls
  :func:`aimclr.cpu.retain_freed_memory` first, as the example trainer does (not with
  ``--default-allocator``).
* ``reference-like``: the same math in the official code's computation pattern
  (``_reference_like.py``: einsum graph convolution, ``nn.Dropout``, a Python momentum
  loop, the ``(D, K)`` queue with its clones and slice enqueue, ``log(softmax)`` losses),
  with glibc's default allocator. Stands in for the official code where that is absent.
* ``official`` (with ``--official DIR``): the official code itself, imported from ``DIR``
  (``_official.py``), glibc's default allocator.

Columns: GFLOP/s is the FLOPs of one step (forward + backward, ``FlopCounterMode``:
convolutions and matmuls, counted in each worker) over the median step time, also as a
percentage of a float32 2048³ sgemm timed round-robin with the steps in this process;
"vs official" / "vs ref-like" are throughput ratios to those rows of the same group.
``bf16`` runs the forward under CPU bfloat16 autocast (oneDNN uses AMX or AVX-512 BF16
where the CPU has them). Peak RSS: growth of the worker's peak RSS (``VmHWM``) over its
first two steps, after setup (model, optimiser, views); it includes the gradients and
momentum buffers. Frame count ``T`` and queue size ``K`` sweeps time the library alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

import aimclr

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    clock,
    count_flops,
    markdown_table,
    median_seconds,
    sgemm_case,
    use_cpu_time,
    using_cpu_time,
)
from _reference_like import ReferenceLikeStep

from aimclr.cpu import retain_freed_memory
from aimclr.model import AimCLR
from aimclr.nn import STGCN
from aimclr.nn.stgcn import MemoryFormat
from aimclr.transforms import AimCLRViews

VARIANTS = ("library", "reference-like", "official")
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}
"""Step precisions: the autocast dtype of the forward pass (None: full float32)."""


@dataclass(frozen=True)
class Case:
    """One step configuration."""

    batch: int = 32
    frames: int = 50
    queue: int = 32768
    variant: str = "library"  # one of VARIANTS
    precision: str = "fp32"  # a key of PRECISIONS
    stage: int = 2  # 1: InfoNCE + D3M; 2: NNM + D3M
    default_allocator: bool = False  # library only: keep glibc's defaults

    @property
    def label(self) -> str:
        allocator = ", default allocator" if self.default_allocator else ""
        return (f"N={self.batch} T={self.frames} K={self.queue} stage {self.stage} "
                f"{self.variant}{allocator} {self.precision}")  # fmt: skip


def make_views(case: Case, seed: int = 0, device: str = "cpu") -> tuple[torch.Tensor, ...]:
    """The three views ``(N, 3, T, 25, 2)`` of ``case``, half the samples with one person."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(case.batch, 3, case.frames, 25, 2, generator=generator)
    x[1::2, :, :, :, 1] = 0.0  # half the samples with one person, as in NTU
    return tuple(view.to(device) for view in AimCLRViews()(x, generator=generator))


def build_step(
    case: Case,
    seed: int = 0,
    device: str = "cpu",
    compile_mode: str | None = None,
    memory_format: MemoryFormat = "auto",
    official: str | Path | None = None,
) -> Callable[[], None]:
    """A closure running one training step of ``case`` on precomputed views.

    Args:
        case: batch, frames, queue size, variant, precision and stage.
        seed: seed of the weights, the queue and the input.
        device: where the model, the views and the step live (the reference-like and
            official variants: CPU only).
        compile_mode: ``torch.compile`` the feature extraction of both encoders with
            this mode (``"default"``, ``"reduce-overhead"`` for CUDA graphs, …);
            ``None`` runs eagerly. Library only.
        memory_format: the encoder's block layout (``STGCN(memory_format=...)``).
        official: folder of the official code (``official`` variant only).
    """
    amp_dtype = PRECISIONS[case.precision]
    views = make_views(case, seed, device)
    if case.variant == "official":
        if official is None:
            raise ValueError("the official variant needs the folder of the official code")
        from _official import build_official_step

        return build_official_step(official, views, case.stage, case.queue, amp_dtype, seed)
    if case.variant not in VARIANTS:
        raise ValueError(f"unknown variant {case.variant!r}; expected one of {VARIANTS}")
    torch.manual_seed(seed)
    encoder = STGCN("ntu-rgb+d", hidden_channels=16, hidden_dim=256, memory_format=memory_format)
    model = AimCLR.preset(
        "aimclr",
        encoder,
        queue_size=case.queue,
        queue_generator=torch.Generator().manual_seed(seed),
    ).to(device)
    if compile_mode is not None:
        model.compile_features(mode=compile_mode)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    device_type = torch.device(device).type
    if case.variant == "reference-like":
        reference = ReferenceLikeStep(model, optimiser)

        def reference_step() -> None:
            with torch.autocast(device_type, amp_dtype, enabled=amp_dtype is not None):
                reference(*views, stage=case.stage)

        return reference_step
    epoch = 1 if case.stage == 1 else model.mining_epoch + 1

    def step() -> None:
        with torch.autocast(device_type, amp_dtype, enabled=amp_dtype is not None):
            out = model(*views, epoch=epoch)
        optimiser.zero_grad(set_to_none=True)
        out.loss.backward()
        optimiser.step()

    return step


# ------------------------------------------------------------------------ worker processes


def _peak_rss_kib() -> int:
    """This process's peak RSS in KiB.

    ``VmHWM`` where /proc exists: ``ru_maxrss`` survives ``fork`` + ``exec``, so a child
    of a large process would start at its parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="utf-8") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


def _worker(spec: str, official: str | None, warmup: int) -> None:
    """Serve one case: build it, report FLOPs and memory, then time a step per input line."""
    case = Case(**json.loads(spec))
    retained = case.variant == "library" and not case.default_allocator and retain_freed_memory()
    step = build_step(case, official=official)
    before = _peak_rss_kib()
    for _ in range(2):
        step()
    peak_mib = (_peak_rss_kib() - before) / 1024
    flops = count_flops(step)
    for _ in range(max(warmup - 3, 0)):
        step()
    allocator = "retained" if retained else "glibc default"
    info = {"gflop": flops / 1e9, "peak_rss_mib": peak_mib, "allocator": allocator,
            "aimclr": str(Path(aimclr.__file__).resolve().parent)}  # fmt: skip
    print(json.dumps(info), flush=True)
    for _ in sys.stdin:
        start = clock()
        step()
        print(clock() - start, flush=True)


class Worker:
    """A subprocess running :func:`_worker` for one case.

    ``checkout``: run the case with the ``aimclr`` and ``bench_step.py`` of another
    checkout of the project (A/B timing of two versions, see ``bench_versions.py``).
    """

    def __init__(
        self,
        case: Case,
        official: str | None,
        warmup: int,
        cpu_time: bool,
        checkout: Path | None = None,
    ) -> None:
        script = __file__ if checkout is None else str(checkout / "benchmarks" / "bench_step.py")
        args = [sys.executable, script, "--worker", json.dumps(asdict(case)),
                "--threads", str(torch.get_num_threads()), "--warmup", str(warmup)]  # fmt: skip
        if official is not None:
            args += ["--official", official]
        if cpu_time:
            args.append("--cpu-time")
        env = None if checkout is None else {**os.environ, "PYTHONPATH": str(checkout)}
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, env=env)  # fmt: skip
        self.info: dict[str, Any] = json.loads(self._line())

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited with {self.process.wait()}")
        return line

    def step(self) -> float:
        """Run one step in the worker; its time as the worker measured it."""
        assert self.process.stdin is not None
        self.process.stdin.write("step\n")
        self.process.stdin.flush()
        return float(self._line())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()


def measure_workers(
    cases: list[Case], repeats: int, warmup: int, official: str | None = None
) -> list[dict[str, Any]]:
    """Time ``cases`` in worker processes, round-robin with an sgemm in this process.

    The workers start one after the other; each runs ``max(warmup, 3)`` steps (two for
    its memory figure, one counting FLOPs) before the timed rounds.
    """
    workers = {case.label: Worker(case, official, warmup, using_cpu_time()) for case in cases}
    sgemm, sgemm_flops = sgemm_case()
    seconds = time_workers(workers, repeats, between={"sgemm": sgemm})
    sgemm_rate = sgemm_flops / seconds["sgemm"] / 1e9
    rows = []
    for case in cases:
        info = workers[case.label].info
        s = seconds[case.label]
        rate = info["gflop"] / s
        rows.append({**asdict(case), "s_per_step": s, "samples_per_s": case.batch / s,
                     "gflop_per_step": info["gflop"], "gflop_per_s": rate,
                     "sgemm_gflop_per_s": sgemm_rate, "pct_of_sgemm": 100 * rate / sgemm_rate,
                     "peak_rss_mib": info["peak_rss_mib"],
                     "allocator": info["allocator"]})  # fmt: skip
    for row in rows:
        for other, key in (("official", "vs_official"), ("reference-like", "vs_reference_like")):
            base = [r for r in rows if r["variant"] == other and not r["default_allocator"]]
            row[key] = base[0]["s_per_step"] / row["s_per_step"] if base else float("nan")
    return rows


def time_workers(
    workers: dict[str, Worker], repeats: int, between: dict[str, Callable[[], object]] | None = None
) -> dict[str, float]:
    """Median step time of each worker, timed round-robin; closes the workers.

    Each round steps every worker once, then times the in-process callables of
    ``between`` (e.g. the sgemm), so load changes affect all of them alike.
    """
    between = between or {}
    times: dict[str, list[float]] = {label: [] for label in [*workers, *between]}
    try:
        for _ in range(repeats):
            for label, worker in workers.items():
                times[label].append(worker.step())
            for label, fn in between.items():
                start = clock()
                fn()
                times[label].append(clock() - start)
    finally:
        for worker in workers.values():
            worker.close()
    return {label: statistics.median(values) for label, values in times.items()}


def measure_in_process(cases: list[Case], repeats: int, warmup: int) -> list[dict[str, Any]]:
    """Time library ``cases`` in this process, round-robin with an sgemm."""
    steps = {case.label: build_step(case) for case in cases}
    sgemm, sgemm_flops = sgemm_case()
    flops = {label: count_flops(step) for label, step in steps.items()}
    seconds = median_seconds({**steps, "sgemm": sgemm}, repeats, warmup)
    sgemm_rate = sgemm_flops / seconds["sgemm"] / 1e9
    rows = []
    for case in cases:
        s = seconds[case.label]
        rate = flops[case.label] / s / 1e9
        rows.append({**asdict(case), "s_per_step": s, "samples_per_s": case.batch / s,
                     "gflop_per_step": flops[case.label] / 1e9, "gflop_per_s": rate,
                     "sgemm_gflop_per_s": sgemm_rate, "pct_of_sgemm": 100 * rate / sgemm_rate,
                     "peak_rss_mib": float("nan"), "allocator": "this process",
                     "vs_official": float("nan"), "vs_reference_like": float("nan")})  # fmt: skip
    return rows


def comparison_groups(quick: bool, official: bool) -> dict[str, list[Case]]:
    """The interleaved groups: every (batch, stage, precision) with each variant."""
    variants = VARIANTS if official else VARIANTS[:2]
    batches = (32,) if quick else (8, 32)
    groups = {}
    for batch in batches:
        for stage in (1, 2):
            for precision in PRECISIONS:
                cases = [Case(batch=batch, stage=stage, precision=precision, variant=v)
                         for v in variants]  # fmt: skip
                groups[f"N={batch} stage {stage} {precision}"] = cases
    return groups


def run(
    quick: bool, official: str | None = None, default_allocator: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """All step measurements, grouped (each group timed round-robin on its own)."""
    repeats, warmup = (3, 3) if quick else (5, 3)
    library = Case(default_allocator=default_allocator)
    results: dict[str, list[dict[str, Any]]] = {}
    for name, cases in comparison_groups(quick, official is not None).items():
        cases = [replace(c, default_allocator=default_allocator and c.variant == "library")
                 for c in cases]  # fmt: skip
        print(f"# step: {name} ({len(cases)} workers, {repeats} rounds)", file=sys.stderr)
        results[name] = measure_workers(cases, repeats, warmup, official)
    if not quick:
        print("# step: N=128", file=sys.stderr)
        cases = [replace(library, batch=128), Case(batch=128, variant="reference-like")]
        results["N=128 stage 2 fp32"] = measure_workers(cases, 3, warmup)
    if not default_allocator:
        print("# step: allocator", file=sys.stderr)
        cases = [library, replace(library, default_allocator=True)]
        results["allocator"] = measure_workers(cases, repeats, warmup)
    retain_freed_memory()  # for the library-only sweeps in this process
    sweeps = {
        "frames": [replace(library, frames=t) for t in ((25, 50) if quick else (25, 50, 100))],
        "queue": [replace(library, queue=k) for k in
                  ((4096, 32768) if quick else (4096, 32768, 131072))],
    }  # fmt: skip
    for name, cases in sweeps.items():
        print(f"# step: {name} ({len(cases)} cases)", file=sys.stderr)
        results[name] = measure_in_process(cases, repeats, warmup=1)
    return results


STEP_HEADERS = ("variant", "precision", "stage", "N", "T", "K", "s/step", "samples/s",
                "vs official", "vs ref-like", "GFLOP/step", "GFLOP/s", "% sgemm",
                "peak RSS MiB", "allocator")  # fmt: skip


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of step rows."""
    return markdown_table(STEP_HEADERS, [
        (r["variant"] + (", default allocator" if r["default_allocator"] else ""),
         r["precision"], r["stage"], r["batch"], r["frames"], r["queue"], r["s_per_step"],
         r["samples_per_s"], r["vs_official"], r["vs_reference_like"], r["gflop_per_step"],
         r["gflop_per_s"], r["pct_of_sgemm"], r["peak_rss_mib"], r["allocator"])
        for r in rows
    ])  # fmt: skip


def summary(results: dict[str, list[dict[str, Any]]]) -> str:
    """One line per comparison group: library speed-up over the baselines present."""
    lines = []
    for name, rows in results.items():
        lib = [r for r in rows if r["variant"] == "library" and not r["default_allocator"]]
        if not lib or all(r["variant"] == "library" for r in rows):
            continue
        parts = [f"{key} {lib[0][field]:.2f}x" for key, field in
                 (("official", "vs_official"), ("reference-like", "vs_reference_like"))
                 if lib[0][field] == lib[0][field]]  # fmt: skip
        ref = [r for r in rows if r["variant"] == "reference-like"]
        off = [r for r in rows if r["variant"] == "official"]
        if ref and off:
            ratio = ref[0]["s_per_step"] / off[0]["s_per_step"]
            parts.append(f"reference-like / official step time {ratio:.2f}")
        lines.append(f"- {name}: library vs " + ", ".join(parts))
    return "\n".join(lines)


def main() -> None:
    """Run the step benchmark and print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer cases and rounds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--official", metavar="DIR",
                        help="folder holding the official code's net/ package: time it too")
    parser.add_argument("--default-allocator", action="store_true",
                        help="library workers keep glibc's defaults (no retain_freed_memory)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with each process's CPU time (robust on a busy machine; "
                             "meaningful with --threads 1 only)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.cpu_time:
        use_cpu_time()
    if args.worker:
        _worker(args.worker, args.official, args.warmup)
        return
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    results = run(args.quick, args.official, args.default_allocator)
    timing = "CPU time" if args.cpu_time else "wall time"
    print(f"{args.threads} threads, {timing}; load average (1 min) at the start: {load:.2f}"
          f"\n\n{summary(results)}")  # fmt: skip
    for name, rows in results.items():
        print(f"\n### step: {name}\n\n{table(rows)}")


if __name__ == "__main__":
    main()
