"""A/B timing of the pre-training step: this checkout against another one, same run.

Run with ``python benchmarks/bench_versions.py --base DIR [--official DIR]
[--write-results]``, where ``DIR`` is another checkout of this project (e.g.
``git worktree add ../base <commit>``). Every case
runs in one worker process per version (``bench_step.py``'s workers: views precomputed,
forward of all three views + backward + SGD step), started with that checkout's
``aimclr`` and benchmark code; the parent times one step of each in turn, so load changes
on a shared machine affect both alike, and reports medians and their ratio. With
``--official`` the official code runs as a third worker of each case.
``--write-results`` also writes the table as a section of ``benchmarks/results.md``
(``run_all.py`` keeps it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, markdown_table, using_cpu_time, write_results_section
from bench_step import Case, Worker, time_workers

CHECKOUT = Path(__file__).resolve().parents[1]
SECTION = "## Step: this checkout against an earlier one (bench_versions.py)"


def _imported_from(checkout: Path) -> Path:
    """The folder ``import aimclr`` resolves to in a worker started for ``checkout``."""
    code = "import aimclr, pathlib; print(pathlib.Path(aimclr.__file__).resolve().parent)"
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    # cwd "/": `python -c` puts the working folder first on sys.path; a worker script
    # puts its own folder there instead.
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env=env, cwd="/")  # fmt: skip
    return Path(found.stdout.strip())


def compare(
    cases: list[Case], base: Path, repeats: int, warmup: int, official: str | None
) -> list[dict[str, object]]:
    """Median step times of ``cases`` for this checkout, ``base`` (and the official code)."""
    rows = []
    for case in cases:
        workers = {
            "now": Worker(case, None, warmup, using_cpu_time(), checkout=CHECKOUT),
            "base": Worker(case, None, warmup, using_cpu_time(), checkout=base),
        }
        if official is not None:
            workers["official"] = Worker(Case(**{**case.__dict__, "variant": "official"}),
                                         official, warmup, using_cpu_time())  # fmt: skip
        seconds = time_workers(workers, repeats)
        row: dict[str, object] = {
            "case": f"N={case.batch} stage {case.stage} {case.precision}",
            "base_s": seconds["base"],
            "now_s": seconds["now"],
            "gain": seconds["base"] / seconds["now"],
        }
        if official is not None:
            row["official_s"] = seconds["official"]
            row["base_vs_official"] = seconds["official"] / seconds["base"]
            row["now_vs_official"] = seconds["official"] / seconds["now"]
        rows.append(row)
        print(row, file=sys.stderr, flush=True)
    return rows


def main() -> None:
    """Parse the options, run the comparison and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="the other checkout")
    parser.add_argument("--official", metavar="DIR", help="folder of the official code")
    parser.add_argument("--batches", default="8,32", help="comma-separated batch sizes")
    parser.add_argument("--precisions", default="fp32,bf16", help="fp32, bf16 or both")
    parser.add_argument("--stages", default="1,2")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write-results", action="store_true",
                        help="also write the table into benchmarks/results.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = args.base.resolve()
    for checkout in (CHECKOUT, base):
        found = _imported_from(checkout)
        if found != checkout / "aimclr":
            parser.error(f"a worker for {checkout} would import aimclr from {found}")
    cases = [Case(batch=int(b), stage=int(s), precision=p)
             for p in args.precisions.split(",") for b in args.batches.split(",")
             for s in args.stages.split(",")]  # fmt: skip
    rows = compare(cases, base, args.repeats, args.warmup, args.official)
    info = machine_info()
    headers = ["case", "base s/step", "now s/step", "gain (base / now)"]
    if args.official:
        headers += ["official s/step", "base vs official", "now vs official"]
    command = "python benchmarks/bench_versions.py --base DIR"
    command += " --official DIR" if args.official else ""
    text = "\n".join([
        SECTION, "",
        f"`{command}`"
        f" — now: {_commit(CHECKOUT)}, base: {_commit(base)}; {info['cpu']}, {args.threads} "
        f"threads, torch {torch.__version__}, load average {info['load_average_1m']}; "
        f"median of {args.repeats} steps per version, the versions (and the official code) "
        "timed in turn in their own worker processes.", "",
        markdown_table(headers, [tuple(row.values()) for row in rows]), "",
    ])  # fmt: skip
    print(text)
    if args.write_results:
        write_results_section(text, SECTION, Path(__file__).resolve().parent / "results.md")


def _commit(checkout: Path) -> str:
    """The short commit id of ``checkout`` (``unknown`` outside git)."""
    done = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True)  # fmt: skip
    return done.stdout.strip() or "unknown"


if __name__ == "__main__":
    main()
