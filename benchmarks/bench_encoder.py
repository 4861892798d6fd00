"""CPU throughput of the AimCLR ST-GCN encoder next to the machine's sgemm rate.

Run with ``python benchmarks/bench_encoder.py``. Times the encoder (hidden_channels 16,
NTU layout) on a batch of 32 sequences ``(3, 50, 25, 2)``: forward in eval mode under
``torch.no_grad`` and forward + backward in training mode. FLOPs come from
``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matmuls only), so the
GFLOP/s column is comparable with a plain 2048x2048 float32 matmul measured in the same
run. The cases are timed round-robin (one call of each per repeat), so a change in machine
load during the run affects all of them alike; reported times are medians over the repeats.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import count_flops, markdown_table, median_seconds, sgemm_case

from aimclr.nn import STGCN


def encoder_cases(batch: int, device: str = "cpu") -> tuple[Callable[[], None], ...]:
    """Forward (eval, ``no_grad``) and forward + backward (train) of the AimCLR encoder.

    The input is ``(batch, 3, 50, 25, 2)`` on ``device``; the encoder is
    ``STGCN(hidden_channels=16, hidden_dim=256)`` seeded with 0.
    """
    torch.manual_seed(0)
    encoder = STGCN("ntu-rgb+d", hidden_channels=16, hidden_dim=256).to(device)
    x = torch.randn(batch, 3, 50, 25, 2, device=device)

    def forward() -> None:
        encoder.eval()
        with torch.no_grad():
            encoder(x)

    def forward_backward() -> None:
        encoder.train()
        encoder.zero_grad(set_to_none=True)
        encoder(x).float().sum().backward()  # float: the sum of a bf16 autocast output

    return forward, forward_backward


def run(batch: int = 32, repeats: int = 7) -> list[dict[str, Any]]:
    """Time encoder forward, forward + backward and the sgemm; one row per case."""
    forward, forward_backward = encoder_cases(batch)
    sgemm, _ = sgemm_case()
    cases = {"encoder forward": forward, "encoder fwd+bwd": forward_backward,
             "sgemm 2048^3": sgemm}  # fmt: skip
    flops = {name: count_flops(fn) for name, fn in cases.items()}
    seconds = median_seconds(cases, repeats)
    sgemm_rate = flops["sgemm 2048^3"] / seconds["sgemm 2048^3"]
    return [
        {
            "case": name,
            "batch": batch,
            "ms_per_call": seconds[name] * 1e3,
            "ms_per_sample": seconds[name] / batch * 1e3 if name != "sgemm 2048^3" else None,
            "gflop": flops[name] / 1e9,
            "gflop_per_s": flops[name] / seconds[name] / 1e9,
            "pct_of_sgemm": 100 * flops[name] / seconds[name] / sgemm_rate,
        }
        for name in cases
    ]


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of :func:`run` rows."""
    return markdown_table(
        ("case", "ms/call", "ms/sample", "GFLOP", "GFLOP/s", "% sgemm"),
        [
            (r["case"], r["ms_per_call"], float("nan") if r["ms_per_sample"] is None
             else r["ms_per_sample"], r["gflop"], r["gflop_per_s"], r["pct_of_sgemm"])
            for r in rows
        ],
    )  # fmt: skip


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = run(args.batch, args.repeats)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
        f"input ({args.batch}, 3, 50, 25, 2), median of {args.repeats}\n"
    )
    print(table(rows))


if __name__ == "__main__":
    main()
