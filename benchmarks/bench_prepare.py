"""Throughput and peak memory of ``aimclr.data.prepare`` on generated NTU RGB+D files.

Run with ``python benchmarks/bench_prepare.py`` (about 10 minutes on 2 busy cores;
``--quick`` for a smaller run). Files are random NTU-60 ``.skeleton`` files from
:func:`aimclr.data.prepare.generate.write_ntu_folder` (30-120 frames, a second
person in 30 % of them, ~220 KB each, 7 significant digits as in NTU).

1. Throughput: the same folder converted to both NTU-60 benchmarks (300-frame and
   50-frame arrays, labels) by three cases, timed round-robin, medians:

   * ``plain loop`` — one file after another in one process: each file read line
     by line with ``float()`` per value (the reference readers' way), the same
     :func:`~aimclr.data.prepare.convert.reference_arrays` per sample, written into
     memory maps that stay open;
   * ``prepare, 1 worker`` — :func:`aimclr.data.prepare.prepare` in the calling process;
   * ``prepare, 2 workers`` — with two parsing processes.

2. Peak memory: ``prepare`` (2 workers) in a fresh subprocess per folder size, peak
   RSS (``ru_maxrss``) of the main process and of the largest worker.

``--write-results`` replaces this benchmark's section of ``benchmarks/results.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.format import open_memmap

from aimclr.data.prepare import parse_ntu_name, prepare, reference_arrays
from aimclr.data.prepare.benchmarks import ntu_is_training
from aimclr.data.prepare.generate import write_ntu_folder

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import write_results_section  # noqa: E402

SECTION = "## Preparing raw NTU RGB+D files (bench_prepare.py)"


def _read_plainly(path: Path) -> np.ndarray:
    """A ``.skeleton`` file read line by line, every value through ``float()``."""
    with open(path) as file:
        frames = int(file.readline())
        data = np.zeros((3, frames, 25, 2))
        for t in range(frames):
            for m in range(int(file.readline())):
                [float(v) for v in file.readline().split()]  # body values, unused
                for j in range(int(file.readline())):
                    values = [float(v) for v in file.readline().split()]
                    if m < 2:
                        data[:, t, j, m] = values[:3]
    return data.astype(np.float32)


def plain_loop(raw: Path, out: Path) -> None:
    """The baseline: one file at a time, open memory maps (see the module docstring)."""
    names = sorted(p.name for p in raw.iterdir())
    samples = [parse_ntu_name(name) for name in names]
    arrays: dict[tuple[str, str], list[Any]] = {}
    for benchmark in ("xsub", "xview"):
        (out / benchmark).mkdir(parents=True)
        for part in ("train", "val"):
            members = [i for i, s in enumerate(samples)
                       if ntu_is_training(s, "ntu60", benchmark) == (part == "train")]
            files = [open_memmap(out / benchmark / f"{part}_{kind}.npy", mode="w+",
                                 dtype=np.float32, shape=(len(members), 3, t, 25, 2))
                     for kind, t in (("data", 300), ("position", 50), ("motion", 50))]
            arrays[benchmark, part] = [members, files, 0]
            with open(out / benchmark / f"{part}_label.pkl", "wb") as handle:
                pickle.dump(([names[i] for i in members], [samples[i].label for i in members]),
                            handle)
    for index, name in enumerate(names):
        converted = reference_arrays(_read_plainly(raw / name), 50)
        for benchmark in ("xsub", "xview"):
            part = "train" if ntu_is_training(samples[index], "ntu60", benchmark) else "val"
            entry = arrays[benchmark, part]
            for file, array in zip(entry[1], converted, strict=True):
                file[entry[2]] = array
            entry[2] += 1
    for entry in arrays.values():
        for file in entry[1]:
            file.flush()


def _cpu_seconds() -> float:
    """User + system time of this process and its finished children (pool workers)."""
    own, children = (resource.getrusage(who) for who in
                     (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def throughput(raw: Path, work: Path, repeats: int) -> list[dict[str, Any]]:
    """Median wall and CPU seconds of the three cases, timed round-robin."""
    files = sorted(raw.iterdir())
    size = sum(p.stat().st_size for p in files)
    cases: dict[str, Callable[[Path], object]] = {
        "plain loop": lambda out: plain_loop(raw, out),
        "prepare, 1 worker": lambda out: prepare("ntu60", raw, out, workers=1, progress=False),
        "prepare, 2 workers": lambda out: prepare("ntu60", raw, out, workers=2, progress=False),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, run in cases.items():
            out = work / "out"
            start, start_cpu = time.perf_counter(), _cpu_seconds()
            run(out)
            times[name].append(time.perf_counter() - start)
            cpu[name].append(_cpu_seconds() - start_cpu)
            shutil.rmtree(out)
    base = statistics.median(times["plain loop"])
    rows = []
    for name, values in times.items():
        seconds = statistics.median(values)
        rows.append({"case": name, "seconds": seconds, "files_per_s": len(files) / seconds,
                     "mb_per_s": size / 1e6 / seconds, "speedup": base / seconds,
                     "cpu_seconds": statistics.median(cpu[name]), "all_seconds": values})
    return rows


_RSS_CHILD = """
import json, resource, sys, time
from aimclr.data.prepare import prepare
start = time.perf_counter()
summary = prepare("ntu60", sys.argv[1], sys.argv[2], workers=2, progress=False)
print(json.dumps({
    "seconds": time.perf_counter() - start, "samples": summary.samples,
    "main_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "worker_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}))
"""


def peak_rss(raw: Path, work: Path) -> dict[str, Any]:
    """``prepare`` in a fresh interpreter: its peak RSS and its largest worker's."""
    out = work / "rss_out"
    done = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(raw), str(out)],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["files"] = sum(1 for _ in raw.iterdir())
    result["raw_mb"] = sum(p.stat().st_size for p in raw.iterdir()) / 1e6
    result["out_mb"] = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
    shutil.rmtree(out)
    return result


def markdown(rows: list[dict[str, Any]], rss: list[dict[str, Any]], files: int,
             raw_mb: float, command: str) -> str:
    """This benchmark's section of ``results.md``."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        SECTION, "",
        f"`{command}` — {files} generated NTU-60 files ({raw_mb:.0f} MB), both benchmarks, "
        f"300- and 50-frame arrays; {os.cpu_count()} cores, load average {load:.1f} at the "
        "end (a shared machine: ratios within one run are the numbers to read).", "",
        "| case | wall s (median) | files/s | MB/s | vs plain loop | CPU s, all processes "
        "| files per CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['case']} | {r['seconds']:.2f} | {r['files_per_s']:.0f} | "
              f"{r['mb_per_s']:.1f} | {r['speedup']:.2f} x | {r['cpu_seconds']:.2f} | "
              f"{files / r['cpu_seconds']:.0f} |" for r in rows]
    lines += [
        "", "Wall time counts the waits for a CPU on a shared machine; CPU time (user + system "
        "of the process and its workers) does not. Where the load average exceeds the core "
        "count, a second worker cannot shorten the wall time.",
    ]
    lines += [
        "", "Peak RSS of `prepare(..., workers=2)` in a fresh interpreter (torch imported by "
        "`aimclr`), by folder size:", "",
        "| files | raw MB | outputs MB | s | files/s | main process MiB | largest worker MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['files']} | {r['raw_mb']:.0f} | {r['out_mb']:.0f} | {r['seconds']:.1f} | "
              f"{r['files'] / r['seconds']:.0f} | {r['main_mib']:.0f} | {r['worker_mib']:.0f} |"
              for r in rss]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run both measurements and print (and optionally store) the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=400, help="files of the throughput run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rss-files", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--quick", action="store_true", help="100 files, 1 repeat, 200 / 1000")
    parser.add_argument("--write-results", action="store_true",
                        help="replace this section of benchmarks/results.md")
    args = parser.parse_args()
    if args.quick:
        args.files, args.repeats, args.rss_files = 100, 1, [200, 1000]
    command = "python benchmarks/bench_prepare.py" + (" --quick" if args.quick else "")
    with tempfile.TemporaryDirectory(prefix="bench_prepare_") as tmp:
        work = Path(tmp)
        raw = work / "raw"
        write_ntu_folder(raw, args.files, seed=0)
        raw_mb = sum(p.stat().st_size for p in raw.iterdir()) / 1e6
        print(f"# throughput: {args.files} files, {raw_mb:.0f} MB", file=sys.stderr)
        rows = throughput(raw, work, args.repeats)
        shutil.rmtree(raw)
        rss = []
        for count in args.rss_files:
            print(f"# peak RSS: {count} files", file=sys.stderr)
            folder = work / f"raw_{count}"
            write_ntu_folder(folder, count, seed=1)
            rss.append(peak_rss(folder, work))
            shutil.rmtree(folder)
    text = markdown(rows, rss, args.files, raw_mb, command)
    print(text)
    print(json.dumps({"throughput": rows, "rss": rss}, indent=1), file=sys.stderr)
    if args.write_results:
        write_results_section(text, SECTION, HERE / "results.md")


if __name__ == "__main__":
    main()
