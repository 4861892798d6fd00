"""CPU cost of one AimCLR pre-training step, next to the machine's sgemm rate.

Run with ``python benchmarks/bench_step.py [--quick]``. One step of the ``"aimclr"``
preset (``STGCN(hidden_channels=16, hidden_dim=256)``, NTU layout, 2 persons, stage 2 so
NNM is active): the forward of all three views (normal query, extreme view with its
EADM-dropped copy, key under ``no_grad``), ``loss.backward()`` and an SGD step
(momentum 0.9, weight decay 1e-4). The views are precomputed with ``AimCLRViews``, so
only the step is timed.

* GFLOP/s: FLOPs of one step (forward + backward, ``FlopCounterMode``: convolutions and
  matmuls) over the median step time, and as a percentage of a float32 2048³ sgemm
  timed round-robin with the same cases.
* ``straightforward``: the step before its optimisation (``_baseline.py``), timed
  interleaved with the library's path.
* precision ``bf16``: the same step under CPU bfloat16 autocast (oneDNN uses AMX or AVX-512
  BF16 where the CPU has them). Its "% bf16 gemm" compares with a bfloat16 2048³
  matmul timed in the same group; "% sgemm" still compares with the float32 one.
* Allocator: the process calls :func:`aimclr.cpu.retain_freed_memory` first (as the
  example trainer does) unless ``--default-allocator``; both variants at batch 32 are
  also timed in a subprocess with glibc's defaults, where every step page-faults its
  activations in again.
* Peak memory: growth of the peak RSS (``VmHWM``, else ``ru_maxrss``) over two steps in
  a fresh subprocess per case, relative to the process after setup (model, optimiser
  and views built). torch's CPU allocations show in RSS (``tracemalloc`` would not see
  them); the number includes the gradients and momentum buffers of the first step.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _baseline import make_straightforward
from _common import count_flops, markdown_table, median_seconds, sgemm_case

from aimclr.cpu import retain_freed_memory
from aimclr.model import AimCLR
from aimclr.nn import STGCN
from aimclr.nn.stgcn import MemoryFormat
from aimclr.transforms import AimCLRViews

VARIANTS = ("library", "straightforward")
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}
"""Step precisions: the autocast dtype of the forward pass (None: full float32)."""


@dataclass(frozen=True)
class Case:
    """One step configuration."""

    batch: int = 32
    frames: int = 50
    queue: int = 32768
    variant: str = "library"
    precision: str = "fp32"  # a key of PRECISIONS

    @property
    def label(self) -> str:
        return f"N={self.batch} T={self.frames} K={self.queue} {self.variant} {self.precision}"


def build_step(
    case: Case,
    seed: int = 0,
    device: str = "cpu",
    compile_mode: str | None = None,
    memory_format: MemoryFormat = "auto",
) -> Callable[[], None]:
    """A closure running one training step of ``case`` on precomputed views.

    Args:
        case: batch, frames, queue size, variant and precision.
        seed: seed of the weights, the queue and the input.
        device: where the model, the views and the step live.
        compile_mode: ``torch.compile`` the feature extraction of both encoders with
            this mode (``"default"``, ``"reduce-overhead"`` for CUDA graphs, …);
            ``None`` runs eagerly.
        memory_format: the encoder's block layout (``STGCN(memory_format=...)``).
    """
    torch.manual_seed(seed)
    encoder = STGCN("ntu-rgb+d", hidden_channels=16, hidden_dim=256, memory_format=memory_format)
    model = AimCLR.preset(
        "aimclr",
        encoder,
        queue_size=case.queue,
        queue_generator=torch.Generator().manual_seed(seed),
    )
    if case.variant == "straightforward":
        make_straightforward(model)
    elif case.variant != "library":
        raise ValueError(f"unknown variant {case.variant!r}; expected one of {VARIANTS}")
    model.to(device)
    if compile_mode is not None:
        model.compile_features(mode=compile_mode)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(case.batch, 3, case.frames, 25, 2, generator=generator)
    x[1::2, :, :, :, 1] = 0.0  # half the samples with one person, as in NTU
    views = tuple(view.to(device) for view in AimCLRViews()(x, generator=generator))
    epoch = model.mining_epoch + 1  # stage 2: NNM, D3M and EADM all active
    device_type = torch.device(device).type
    amp_dtype = PRECISIONS[case.precision]

    def step() -> None:
        with torch.autocast(device_type, amp_dtype, enabled=amp_dtype is not None):
            out = model(*views, epoch=epoch)
        optimiser.zero_grad(set_to_none=True)
        out.loss.backward()
        optimiser.step()

    return step


def peak_memory_mib(case: Case) -> float:
    """Peak RSS growth of two steps of ``case``, measured in a fresh subprocess."""
    args = [sys.executable, __file__, "--memory-case", json.dumps(asdict(case)),
            "--threads", str(torch.get_num_threads())]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    return float(json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_mib"])


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


def _memory_case(spec: str) -> None:
    step = build_step(Case(**json.loads(spec)))
    before = _peak_rss_kib()
    for _ in range(2):
        step()
    print(json.dumps({"peak_rss_mib": (_peak_rss_kib() - before) / 1024}))


def measure(cases: list[Case], repeats: int, warmup: int, memory: bool) -> list[dict[str, Any]]:
    """Time ``cases`` round-robin with an sgemm, count their FLOPs, optionally memory."""
    steps = {case.label: build_step(case) for case in cases}
    sgemm, sgemm_flops = sgemm_case()
    references = {"sgemm": sgemm}
    if any(case.precision == "bf16" for case in cases):
        references["bf16 gemm"] = sgemm_case(dtype=torch.bfloat16)[0]
    flops = {label: count_flops(step) for label, step in steps.items()}
    seconds = median_seconds({**steps, **references}, repeats, warmup)
    sgemm_rate = sgemm_flops / seconds["sgemm"] / 1e9
    bf16_rate = sgemm_flops / seconds.get("bf16 gemm", float("nan")) / 1e9
    rows = []
    for case in cases:
        s = seconds[case.label]
        rate = flops[case.label] / s / 1e9
        rows.append({
            **asdict(case),
            "s_per_step": s,
            "samples_per_s": case.batch / s,
            "gflop_per_step": flops[case.label] / 1e9,
            "gflop_per_s": rate,
            "sgemm_gflop_per_s": sgemm_rate,
            "pct_of_sgemm": 100 * rate / sgemm_rate,
            "bf16_gemm_gflop_per_s": bf16_rate,
            "pct_of_bf16_gemm": (100 * rate / bf16_rate if case.precision == "bf16"
                                 else float("nan")),
            "peak_rss_mib": peak_memory_mib(case) if memory else float("nan"),
        })  # fmt: skip
    return rows


def default_allocator_rows(cases: list[Case], repeats: int, warmup: int) -> list[dict[str, Any]]:
    """:func:`measure` of ``cases`` in a fresh subprocess that keeps glibc's defaults."""
    args = [sys.executable, __file__, "--default-allocator-cases",
            json.dumps([asdict(case) for case in cases]), "--repeats", str(repeats),
            "--warmup", str(warmup), "--threads", str(torch.get_num_threads())]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    rows: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    for row in rows:
        row["variant"] += ", default allocator"
    return rows


def run(quick: bool, allocator_retained: bool = True) -> dict[str, list[dict[str, Any]]]:
    """All step measurements, grouped (each group timed round-robin on its own).

    With ``allocator_retained`` (this process called
    :func:`aimclr.cpu.retain_freed_memory`), an extra group times both variants at
    batch 32 in a subprocess with glibc's default allocator settings.
    """
    repeats, warmup = (3, 1) if quick else (5, 1)
    batches = (8, 32) if quick else (8, 32, 128)
    groups = {
        # Before/after: both variants interleaved at each batch size.
        "batch": [Case(batch=n, variant=v) for n in batches for v in VARIANTS],
        "frames": [Case(frames=t) for t in ((25, 50) if quick else (25, 50, 100))],
        "queue": [Case(queue=k) for k in ((4096, 32768) if quick else (4096, 32768, 131072))],
        # bfloat16 autocast (AMX / AVX-512 BF16 where the CPU has them) next to float32.
        "precision": [Case(variant=v, precision=p) for v in VARIANTS for p in PRECISIONS],
    }
    results = {}
    for name, cases in groups.items():
        print(f"# step: {name} ({len(cases)} cases, {repeats} repeats)", file=sys.stderr)
        results[name] = measure(cases, repeats, warmup, memory=name == "batch")
    if allocator_retained:
        print("# step: default allocator (subprocess)", file=sys.stderr)
        cases = [Case(batch=32, variant=v) for v in VARIANTS]
        results["allocator"] = default_allocator_rows(cases, repeats, warmup)
    return results


STEP_HEADERS = ("variant", "precision", "N", "T", "K", "s/step", "samples/s", "GFLOP/step",
                "GFLOP/s", "% sgemm", "% bf16 gemm", "peak RSS MiB")  # fmt: skip


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of step rows."""
    return markdown_table(STEP_HEADERS, [
        (r["variant"], r["precision"], r["batch"], r["frames"], r["queue"],
         r["s_per_step"], r["samples_per_s"], r["gflop_per_step"], r["gflop_per_s"],
         r["pct_of_sgemm"], r["pct_of_bf16_gemm"], r["peak_rss_mib"])
        for r in rows
    ])  # fmt: skip


def main() -> None:
    """Run the step benchmark and print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer cases and repeats")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--default-allocator", action="store_true",
                        help="keep glibc's defaults instead of aimclr.cpu.retain_freed_memory()")
    parser.add_argument("--memory-case", help=argparse.SUPPRESS)
    parser.add_argument("--default-allocator-cases", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=5, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_case:
        _memory_case(args.memory_case)
        return
    if args.default_allocator_cases:
        cases = [Case(**spec) for spec in json.loads(args.default_allocator_cases)]
        print(json.dumps(measure(cases, args.repeats, args.warmup, memory=False)))
        return
    retained = not args.default_allocator and retain_freed_memory()
    for name, rows in run(args.quick, retained).items():
        print(f"\n### step cost vs {name}\n\n{table(rows)}")


if __name__ == "__main__":
    main()
