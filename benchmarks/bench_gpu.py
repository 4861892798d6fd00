"""GPU figures: view triples, encoder and pre-training step on CUDA.

Run with ``python benchmarks/bench_gpu.py [--quick]`` on a machine with a CUDA device
(it exits with a message otherwise). Writes Markdown to stdout and, with ``--output``,
to a file (plus the raw numbers as ``.json`` beside it). Sections:

1. reference matmul rates: an 8192³ float32 matmul (TF32 off, as the fp32 cases run) and
   the same in bfloat16; the "% of matmul" columns compare with the one of the same
   precision;
2. transforms: ``AimCLRViews`` triples per second for batches of 128 and 1024 samples
   ``(3, 50, 25, 2)`` already on the GPU;
3. encoder forward and forward + backward at batch 128, fp32 and bf16 autocast;
4. the pre-training step of ``bench_step.py`` (``aimclr`` preset, stage 2) at batch
   8/32/128/512 in fp32, bf16 autocast, and bf16 autocast with ``torch.compile`` on both
   encoders' feature extraction, in the default mode and in ``"reduce-overhead"`` (CUDA
   graphs) (encoder layout ``"auto"``: channels-last on CUDA); the
   bf16 step with the encoder's contiguous and channels-last layouts; then how the bf16
   step grows with frames ``T`` and queue size ``K``. Peak memory is
   ``torch.cuda.max_memory_allocated`` over two steps, above what was allocated after setup.

Every case is timed with a device synchronisation after each call, round-robin with
the reference matmuls of its group; times are medians. FLOPs are counted once per shape
in eager fp32 (``FlopCounterMode``), the same count for every precision.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import count_flops, markdown_table, median_seconds, sgemm_case
from bench_encoder import encoder_cases
from bench_step import PRECISIONS, Case, build_step

from aimclr.nn.stgcn import MemoryFormat
from aimclr.transforms import AimCLRViews

MATMUL_SIZE = 8192
SECTIONS = ("transforms", "encoder", "batch", "layout", "frames", "queue")


def synchronised(fn: Callable[[], object]) -> Callable[[], None]:
    """``fn`` followed by a CUDA synchronisation, so wall time covers the kernels."""

    def call() -> None:
        fn()
        torch.cuda.synchronize()

    return call


def matmul_cases() -> tuple[dict[str, Callable[[], None]], dict[str, int]]:
    """8192³ matmuls in float32 and bfloat16, and their FLOPs."""
    cases, flops = {}, {}
    for name, dtype in (("matmul fp32", torch.float32), ("matmul bf16", torch.bfloat16)):
        matmul, flops[name] = sgemm_case(MATMUL_SIZE, dtype, device="cuda")
        cases[name] = synchronised(matmul)
    return cases, flops


def rates(seconds: dict[str, float], flops: dict[str, int]) -> dict[str, float]:
    """GFLOP/s of the two reference matmuls."""
    return {p: flops[f"matmul {p}"] / seconds[f"matmul {p}"] / 1e9 for p in PRECISIONS}


def transforms_rows(repeats: int) -> list[dict[str, Any]]:
    """View triples per second on the GPU for two batch sizes."""
    views = AimCLRViews()
    generator = torch.Generator(device="cuda").manual_seed(0)
    cases = {}
    for batch in (128, 1024):
        x = torch.randn(batch, 3, 50, 25, 2, device="cuda")
        x[1::2, :, :, :, 1] = 0.0
        cases[batch] = synchronised(lambda x=x: views(x, generator=generator))
    seconds = median_seconds({str(b): fn for b, fn in cases.items()}, repeats, warmup=3)
    return [{"batch": b, "ms_per_batch": seconds[str(b)] * 1e3,
             "triples_per_s": b / seconds[str(b)]} for b in cases]  # fmt: skip


def encoder_rows(repeats: int, batch: int = 128) -> list[dict[str, Any]]:
    """Encoder forward and forward + backward, fp32 and bf16 autocast."""
    forward, forward_backward = encoder_cases(batch, "cuda")
    flops = {"forward": count_flops(forward), "fwd+bwd": count_flops(forward_backward)}
    cases: dict[str, Callable[[], None]] = {}
    for precision, dtype in PRECISIONS.items():
        for name, fn in (("forward", forward), ("fwd+bwd", forward_backward)):

            def run(fn: Callable[[], None] = fn, dtype: torch.dtype | None = dtype) -> None:
                with torch.autocast("cuda", dtype, enabled=dtype is not None):
                    fn()

            cases[f"{name} {precision}"] = synchronised(run)
    matmuls, matmul_flops = matmul_cases()
    seconds = median_seconds({**cases, **matmuls}, repeats, warmup=3)
    reference = rates(seconds, matmul_flops)
    rows = []
    for label in cases:
        name, precision = label.split()
        rate = flops[name] / seconds[label] / 1e9
        rows.append({"case": name, "precision": precision, "batch": batch,
                     "ms_per_call": seconds[label] * 1e3, "gflop": flops[name] / 1e9,
                     "gflop_per_s": rate,
                     "pct_of_matmul": 100 * rate / reference[precision]})  # fmt: skip
    for precision, rate in reference.items():
        rows.append({"case": f"matmul {MATMUL_SIZE}^3", "precision": precision, "batch": None,
                     "ms_per_call": seconds[f"matmul {precision}"] * 1e3,
                     "gflop": matmul_flops[f"matmul {precision}"] / 1e9, "gflop_per_s": rate,
                     "pct_of_matmul": 100.0})  # fmt: skip
    return rows


def peak_memory_mib(step: Callable[[], None]) -> float:
    """Peak CUDA memory of two steps above what was allocated before them."""
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    for _ in range(2):
        step()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - before) / 2**20


StepCase = tuple[Case, str, MemoryFormat]
"""A step shape, a mode (a key of :data:`MODES`) and the encoder layout."""

MODES: dict[str, tuple[str, str | None]] = {
    "fp32": ("fp32", None),
    "bf16": ("bf16", None),
    "bf16+compile": ("bf16", "default"),
    "bf16+graphs": ("bf16", "reduce-overhead"),
}
"""Step modes: precision (a key of ``PRECISIONS``) and ``torch.compile`` mode of the
encoders' features."""


def step_rows(cases: list[StepCase], repeats: int) -> list[dict[str, Any]]:
    """Time the steps round-robin with the matmuls; one row per case."""
    steps: dict[str, Callable[[], None]] = {}
    flops: dict[str, int] = {}
    memory: dict[str, float] = {}
    compile_seconds: dict[str, float] = {}
    for case, mode, memory_format in cases:
        label = f"{case.label} {mode} {memory_format}"
        precision, compile_mode = MODES[mode]
        fp32_eager = build_step(replace(case, precision="fp32"), device="cuda")
        flops[label] = count_flops(fp32_eager)
        del fp32_eager
        step = synchronised(build_step(replace(case, precision=precision), device="cuda",
                                       compile_mode=compile_mode,
                                       memory_format=memory_format))  # fmt: skip
        start = time.perf_counter()
        step()  # compiles where asked
        compile_seconds[label] = time.perf_counter() - start
        memory[label] = peak_memory_mib(step)
        steps[label] = step
    matmuls, matmul_flops = matmul_cases()
    seconds = median_seconds({**steps, **matmuls}, repeats, warmup=2)
    reference = rates(seconds, matmul_flops)
    rows = []
    for case, mode, memory_format in cases:
        label = f"{case.label} {mode} {memory_format}"
        rate = flops[label] / seconds[label] / 1e9
        precision = MODES[mode][0]
        rows.append({"mode": mode, "memory_format": memory_format, "batch": case.batch,
                     "frames": case.frames,
                     "queue": case.queue, "ms_per_step": seconds[label] * 1e3,
                     "samples_per_s": case.batch / seconds[label],
                     "gflop_per_step": flops[label] / 1e9, "gflop_per_s": rate,
                     "pct_of_matmul": 100 * rate / reference[precision],
                     "peak_mib": memory[label],
                     "first_step_s": compile_seconds[label]})  # fmt: skip
    return rows


STEP_HEADERS = ("mode", "layout", "N", "T", "K", "ms/step", "samples/s", "GFLOP/step", "GFLOP/s",
                "% matmul", "peak MiB", "first step s")  # fmt: skip


def step_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of :func:`step_rows`."""
    return markdown_table(STEP_HEADERS, [
        (r["mode"], r["memory_format"], r["batch"], r["frames"], r["queue"], r["ms_per_step"],
         r["samples_per_s"],
         r["gflop_per_step"], r["gflop_per_s"], r["pct_of_matmul"], r["peak_mib"],
         r["first_step_s"])
        for r in rows
    ])  # fmt: skip


def main() -> None:
    """Run the GPU benchmarks and print (and optionally write) the Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer cases and repeats")
    parser.add_argument("--output", type=Path, help="also write Markdown here (+ .json)")
    parser.add_argument("--sections", type=lambda text: text.split(","), default=SECTIONS,
                        help=f"comma-separated subset of {','.join(SECTIONS)}")
    args = parser.parse_args()
    if unknown := set(args.sections) - set(SECTIONS):
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py needs a CUDA device; none is available")
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 here
    torch.backends.cudnn.allow_tf32 = False
    repeats = 10 if args.quick else 30
    started = time.perf_counter()
    props = torch.cuda.get_device_properties(0)
    header = {"device": props.name, "memory GiB": round(props.total_memory / 2**30, 1),
              "torch": torch.__version__, "cuda": torch.version.cuda,
              "cudnn": torch.backends.cudnn.version(), "tf32": False}  # fmt: skip
    raw: dict[str, Any] = {"machine": header}
    sections = ["# aimclr GPU benchmarks", f"`python benchmarks/bench_gpu.py"
                f"{' --quick' if args.quick else ''}`", markdown_table(("key", "value"),
                list(header.items()))]  # fmt: skip

    if "transforms" in args.sections:
        raw["transforms"] = transforms_rows(repeats)
        sections += ["## View triples on the GPU (AimCLRViews, all 8 augmentations)",
                     markdown_table(("batch", "ms/batch", "triples/s"),
                                    [(r["batch"], r["ms_per_batch"], r["triples_per_s"])
                                     for r in raw["transforms"]])]  # fmt: skip
    if "encoder" in args.sections:
        raw["encoder"] = encoder_rows(repeats)
        sections += ["## Encoder (batch 128, input (128, 3, 50, 25, 2))",
                     markdown_table(("case", "precision", "ms/call", "GFLOP", "GFLOP/s",
                                     "% matmul"),
                                    [(r["case"], r["precision"], r["ms_per_call"], r["gflop"],
                                      r["gflop_per_s"], r["pct_of_matmul"])
                                     for r in raw["encoder"]])]  # fmt: skip

    batches = (32, 128) if args.quick else (8, 32, 128, 512)
    modes = tuple(MODES)
    groups: dict[str, list[StepCase]] = {
        "batch": [(Case(batch=n), m, "auto") for n in batches for m in modes],
        "layout": [(Case(batch=n), m, f) for n in (128, 512) for m in ("fp32", "bf16")
                   for f in ("contiguous", "channels_last")],
        "frames": [(Case(batch=128, frames=t), "bf16", "auto") for t in (25, 50, 100)],
        "queue": [(Case(batch=128, queue=k), "bf16", "auto") for k in (4096, 32768, 131072)],
    }
    titles = {"batch": "## Pre-training step vs batch N and precision (T=50, K=32768)",
              "layout": "## Step: encoder memory format (T=50, K=32768)",
              "frames": "## bf16 step vs frames T (N=128, K=32768)",
              "queue": "## bf16 step vs queue size K (N=128, T=50)"}  # fmt: skip
    raw["step"] = {}
    for name, cases in groups.items():
        if name not in args.sections:
            continue
        print(f"# step: {name}", file=sys.stderr)
        raw["step"][name] = step_rows(cases, repeats)
        sections += [titles[name], step_table(raw["step"][name])]
    sections.append(
        "Step: as `bench_step.py` (forward of the three views, backward, SGD). `bf16`: "
        "autocast; `+compile`: `torch.compile` on `features` of both encoders, `+graphs`: "
        "the same with `mode=\"reduce-overhead\"` (CUDA graphs; first step includes "
        "compilation). % matmul: against the 8192³ matmul of the same precision "
        "measured in the same group."
    )
    raw["elapsed_s"] = time.perf_counter() - started
    sections.append(f"Total benchmark time: {raw['elapsed_s']:.0f} s.")
    markdown = "\n\n".join(sections) + "\n"
    print(markdown)
    if args.output:
        args.output.write_text(markdown, encoding="utf-8")
        args.output.with_suffix(".json").write_text(json.dumps(raw, indent=2) + "\n")


if __name__ == "__main__":
    main()
