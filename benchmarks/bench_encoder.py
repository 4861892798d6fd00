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
import statistics
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from aimclr.nn import STGCN


def median_seconds(
    cases: dict[str, Callable[[], object]], repeats: int, warmup: int = 2
) -> dict[str, float]:
    """Median wall time per case, timing the cases round-robin after ``warmup`` rounds."""
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn`` as counted by FlopCounterMode."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops()


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    encoder = STGCN("ntu-rgb+d", hidden_channels=16, hidden_dim=256)
    x = torch.randn(args.batch, 3, 50, 25, 2)

    def forward() -> None:
        encoder.eval()
        with torch.no_grad():
            encoder(x)

    def forward_backward() -> None:
        encoder.train()
        encoder.zero_grad(set_to_none=True)
        encoder(x).sum().backward()

    a = torch.randn(2048, 2048)
    b = torch.randn(2048, 2048)

    def sgemm() -> None:
        torch.mm(a, b)

    cases = {"encoder forward": forward, "encoder fwd+bwd": forward_backward,
             "sgemm 2048^3": sgemm}  # fmt: skip
    flops = {name: count_flops(fn) for name, fn in cases.items()}
    seconds = median_seconds(cases, args.repeats)
    rows = []
    for name in cases:
        per_sample = seconds[name] / args.batch * 1e3 if name != "sgemm 2048^3" else float("nan")
        rows.append((name, seconds[name] * 1e3, per_sample, flops[name] / 1e9,
                     flops[name] / seconds[name] / 1e9))

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
        f"input {tuple(x.shape)}, median of {args.repeats}"
    )
    print(f"{'case':<18}{'ms/call':>10}{'ms/sample':>11}{'GFLOP':>9}{'GFLOP/s':>10}")
    for name, ms, per_sample, gflop, rate in rows:
        sample = f"{per_sample:11.2f}" if per_sample == per_sample else f"{'-':>11}"
        print(f"{name:<18}{ms:10.1f}{sample}{gflop:9.2f}{rate:10.1f}")


if __name__ == "__main__":
    main()
