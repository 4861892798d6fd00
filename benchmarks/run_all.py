"""Run every benchmark and write one results table.

Run with ``python benchmarks/run_all.py [--quick]`` (about 3 minutes with ``--quick``,
up to ~15 minutes without, on 2 threads of an idle CPU). Writes Markdown to stdout and
``benchmarks/results.md`` (keeping the sections that ``bench_prepare.py`` and
``bench_faults.py`` wrote there), and the raw numbers to ``benchmarks/results.json``:

1. transforms: batched versus per-sample view triples (``bench_transforms.py``, run as
   a subprocess; its printed lines are quoted as they are);
2. encoder: forward and forward + backward of the ST-GCN, float32 and bfloat16 autocast,
   in total and per block, each also timed the way it ran before the hand-written CPU
   layers (``bench_encoder.py``);
3. the pre-training step in both stages, float32 and bfloat16 autocast, at batch 32 (and 8
   without ``--quick``): the library against the reference-like baseline and, with
   ``--official DIR``, the official code, each in its own worker process, timed
   round-robin; then the allocator, frame count ``T`` and queue size ``K``
   (``bench_step.py``).

Every section times its cases round-robin together with a 2048³ sgemm, so "% sgemm"
compares with the machine's matmul rate at the same moment; the load average in the
header shows whether other jobs shared the CPU.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_encoder  # noqa: E402
import bench_step  # noqa: E402
from _common import machine_info, markdown_table, use_cpu_time  # noqa: E402

from aimclr.cpu import retain_freed_memory  # noqa: E402


def transforms_section(quick: bool, threads: int, retained: bool) -> tuple[str, dict[str, Any]]:
    """Run ``bench_transforms.py`` in a subprocess; Markdown and raw output."""
    script = HERE / "bench_transforms.py"
    if not script.is_file():
        note = "bench_transforms.py is absent: skipped."
        return note, {"skipped": note}
    args = [sys.executable, str(script), "--threads", str(threads)]
    if quick:
        args += ["--repeats", "3"]
    if not retained:
        args.append("--default-allocator")
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        note = f"bench_transforms.py failed (exit {done.returncode}): {done.stderr.strip()[-500:]}"
        return note, {"skipped": note}
    lines = done.stdout.strip()
    return f"```\n{lines}\n```", {"command": " ".join(args[1:]), "output": lines.splitlines()}


def main() -> None:
    """Run the benchmarks and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer cases and repeats (~3 min)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    parser.add_argument("--default-allocator", action="store_true",
                        help="keep glibc's defaults instead of aimclr.cpu.retain_freed_memory()")
    parser.add_argument("--official", metavar="DIR",
                        help="folder holding the official code's net/ package: time it too")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with CPU time (robust on a busy machine; --threads 1 only)")
    args = parser.parse_args()
    if args.cpu_time:
        use_cpu_time()
    retained = not args.default_allocator and retain_freed_memory()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()

    info = {**machine_info(), "allocator": "retained" if retained else "glibc default",
            "clock": "CPU time" if args.cpu_time else "wall time"}  # fmt: skip
    command = "python benchmarks/run_all.py" + (" --quick" if args.quick else "")
    if args.official:
        command += " --official DIR"
    if args.threads != 2:
        command += f" --threads {args.threads}"
    if args.cpu_time:
        command += " --cpu-time"
    sections = [
        "# aimclr benchmarks",
        f"`{command}`\n",
        markdown_table(("key", "value"), list(info.items())),
    ]
    raw: dict[str, Any] = {"command": command, "machine": info}

    print("# transforms", file=sys.stderr)
    text, raw["transforms"] = transforms_section(args.quick, args.threads, retained)
    sections += ["## Transforms: batched vs per-sample view triples", text]

    print("# encoder", file=sys.stderr)
    repeats = 3 if args.quick else 7
    raw["encoder"] = bench_encoder.run(batch=32, repeats=repeats)
    sections += ["## Encoder (batch 32, input (32, 3, 50, 25, 2); before: "
                 "`aimclr.nn._fused.plain_layers()`, contiguous)",
                 bench_encoder.table(raw["encoder"])]  # fmt: skip
    for precision in bench_encoder.PRECISIONS:
        print(f"# encoder blocks {precision}", file=sys.stderr)
        rows = bench_encoder.run_blocks(batch=32, repeats=repeats, precision=precision)
        raw[f"encoder_blocks_{precision}"] = rows
        sections += [f"## Encoder per block, {precision} (training mode, batch 32; % of time: "
                     "of the ten blocks' fwd+bwd; before: plain layers, contiguous; "
                     "gain: before / now)",
                     bench_encoder.block_table(rows)]  # fmt: skip

    raw["step"] = bench_step.run(args.quick, args.official, args.default_allocator)
    sections += ["## Pre-training step: library vs baselines",
                 bench_step.summary(raw["step"])]  # fmt: skip
    for name, rows in raw["step"].items():
        sections += [f"### Step: {name}", bench_step.table(rows)]
    sections.append(
        "Step: `aimclr` preset, STGCN(hidden_channels=16, hidden_dim=256), dropout 0.5, 2 "
        "persons, forward of all three views + backward + SGD step; views precomputed. "
        "Variants run in worker processes (library: `aimclr.cpu.retain_freed_memory()`; "
        "reference-like and official: glibc's default allocator), timed round-robin by "
        "the parent with a float32 2048³ sgemm; medians. GFLOP: FlopCounterMode over one "
        "step (forward + backward). Peak RSS: growth of the worker's peak RSS (`VmHWM`) "
        "over its first two steps, after setup (includes the gradients and momentum "
        "buffers). The frames and queue sweeps run in the parent process."
    )
    elapsed = time.perf_counter() - started
    raw["elapsed_s"] = elapsed
    sections.append(f"Total benchmark time: {elapsed:.0f} s.")

    markdown = "\n\n".join(sections) + "\n"
    print(markdown)
    kept = sections_of_other_benchmarks(args.output)
    args.output.write_text(markdown + "".join(f"\n{s}" for s in kept), encoding="utf-8")
    args.output.with_suffix(".json").write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")


def sections_of_other_benchmarks(path: Path) -> list[str]:
    """The sections of ``path`` that benchmarks outside this script wrote.

    ``bench_prepare.py --write-results`` and ``bench_faults.py`` add sections whose title
    names their script, e.g. ``## Preparing raw NTU RGB+D files (bench_prepare.py)``;
    rewriting the file keeps them as they are.
    """
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    parts = re.split(r"(?m)^(?=## )", text)
    own = {"bench_transforms.py", "bench_encoder.py", "bench_step.py"}
    kept = []
    for part in parts[1:]:
        title = part.splitlines()[0]
        named = re.search(r"\((bench_\w+\.py)\)\s*$", title)
        if named and named.group(1) not in own:
            kept.append(part.rstrip("\n") + "\n")
    return kept


if __name__ == "__main__":
    main()
