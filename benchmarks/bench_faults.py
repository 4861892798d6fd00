"""What the trainer's fault checks cost: checkpoint verification and the batch finite check.

Run with ``python benchmarks/bench_faults.py`` (about a minute; ``--write-results``
replaces this benchmark's section of ``benchmarks/results.md``).

1. Checkpoints of 20 MB and 200 MB (one float32 tensor, written by
   :func:`aimclr.training.save_checkpoint`): the CRC-32 check of every entry
   (``verify_archive``), ``torch.load(weights_only=True)`` alone, and
   :func:`aimclr.training.load_checkpoint` (both), timed round-robin, medians. The
   file is in the page cache after the first read; a cold read adds the disk's time
   to all three alike.
2. The finite check of a training batch on the host
   (:func:`aimclr.training.nonfinite_samples`: one summation) against
   ``torch.isfinite(x).all()``, for the main job's batch ``(32, 3, 25, 25, 1)`` and
   the reference ``(128, 3, 50, 25, 2)``, on one thread; and, for scale, one
   pre-training step of the main job (views, forward, backward, SGD) at batch 32.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import (  # noqa: E402
    machine_info,
    markdown_table,
    median_seconds,
    write_results_section,
)

from aimclr._torchfile import verify_archive  # noqa: E402
from aimclr.training import (  # noqa: E402
    PretrainViews,
    cli,
    load_checkpoint,
    nonfinite_samples,
    save_checkpoint,
)

SECTION = "## Fault checks: checkpoint verification and the batch finite check (bench_faults.py)"


def checkpoint_rows(sizes_mb: list[int], repeats: int) -> list[list[object]]:
    """Median seconds of verifying, loading, and both, per checkpoint size."""
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes_mb:
            path = save_checkpoint({"w": torch.randn(size * 2**20 // 4)}, Path(folder) / "c.pt")
            times = median_seconds({
                "verify": partial(verify_archive, path, "checkpoint"),
                "load": partial(torch.load, path, weights_only=True),
                "both": partial(load_checkpoint, path),
            }, repeats, warmup=1)  # fmt: skip
            rows.append([f"{size} MB", times["verify"], times["load"], times["both"],
                         f"{times['verify'] / times['load']:.2f} x"])  # fmt: skip
            path.unlink()
    return rows


def _all_finite(x: torch.Tensor) -> bool:
    return bool(torch.isfinite(x).all())


def finite_rows(repeats: int) -> tuple[list[list[object]], float]:
    """Median seconds of the two finite checks per batch shape; the main job's step time."""
    rows: list[list[object]] = []
    for shape in ((32, 3, 25, 25, 1), (128, 3, 50, 25, 2)):
        x = torch.randn(shape)
        times = median_seconds({
            "sum": partial(nonfinite_samples, x),
            "isfinite": partial(_all_finite, x),
        }, repeats * 20)  # fmt: skip
        rows.append([str(shape), 1e6 * times["sum"], 1e6 * times["isfinite"],
                     f"{times['isfinite'] / times['sum']:.0f} x"])  # fmt: skip
    parser = cli.ArgumentParser("bench", "")
    cli.add_model_options(parser)
    cli.add_run_options(parser, workdir="unused")
    model = cli.build_model(parser.parse_args([]))  # the main job's model
    model.train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05,
                                momentum=0.9)  # fmt: skip
    views = PretrainViews(model.extreme_views)
    batch = torch.randn(32, 3, 25, 25, 1)
    generator = torch.Generator().manual_seed(0)

    def step() -> None:
        out = model(*views(batch, generator=generator), epoch=1)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()

    step_seconds = median_seconds({"step": step}, repeats)["step"]
    return rows, step_seconds


def main() -> None:
    """Measure and print (and optionally store) the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write-results", action="store_true",
                        help="replace this section of benchmarks/results.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    checkpoints = checkpoint_rows([20, 200], args.repeats)
    finite, step = finite_rows(args.repeats)
    share = 100 * float(finite[0][1]) * 1e-6 / step  # type: ignore[arg-type]
    info = machine_info()
    text = "\n".join([
        SECTION, "",
        f"`python benchmarks/bench_faults.py` — 1 thread, medians of {args.repeats} "
        f"round-robin repeats ({args.repeats * 20} for the finite checks); {info['cpu']}, "
        f"{info['cores']} cores, load average {info['load_average_1m']} at the end, torch "
        f"{info['torch']}; {time.perf_counter() - started:.0f} s in all.", "",
        markdown_table(("checkpoint", "verify CRC-32 s", "torch.load s", "load_checkpoint s",
                        "verify / load"), checkpoints),
        "",
        markdown_table(("batch", "nonfinite_samples µs", "isfinite().all() µs", "ratio"),
                       finite),
        "",
        f"One pre-training step of the main job (batch 32, views, forward, backward, SGD) "
        f"took {step:.3f} s here: the finite check of its batch is "
        f"{share:.4f} % of it.",
    ]) + "\n"  # fmt: skip
    print(text)
    if args.write_results:
        write_results_section(text, SECTION, HERE / "results.md")


if __name__ == "__main__":
    main()
