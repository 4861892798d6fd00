"""CPU throughput of the AimCLR ST-GCN encoder next to the machine's sgemm rate.

Run with ``python benchmarks/bench_encoder.py``. Times the encoder (hidden_channels 16,
NTU layout) on a batch of 32 sequences ``(3, 50, 25, 2)``: forward in eval mode under
``torch.no_grad`` and forward + backward in training mode. FLOPs come from
``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matmuls only), so the
GFLOP/s column is comparable with a plain 2048x2048 float32 matmul measured in the same
run. The cases are timed round-robin (one call of each per repeat), so a change in machine
load during the run affects all of them alike; reported times are medians over the repeats.

A second table splits the training-mode cost by block: each of the ten ST-GCN blocks is
timed on its own input (captured from one forward of the same batch), forward with
autograd recording and forward + backward for a fixed upstream gradient, so it shows
which blocks run near the sgemm rate and which are bound by memory traffic.
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


def _block_closures(
    encoder: STGCN, i: int, block_input: torch.Tensor
) -> tuple[Callable[[], torch.Tensor], Callable[[], None]]:
    """Forward and forward + backward of block ``i`` of ``encoder`` on ``block_input``."""
    block = encoder.blocks[i]
    edge_importance = encoder.edge_importance

    def forward() -> torch.Tensor:
        adj = encoder.A if edge_importance is None else encoder.A * edge_importance[i]
        out: torch.Tensor = block(block_input, adj)
        return out

    upstream = torch.randn_like(forward())

    def forward_backward() -> None:
        encoder.zero_grad(set_to_none=True)
        torch.autograd.backward([forward()], [upstream])

    return forward, forward_backward


def block_cases(
    batch: int, device: str = "cpu"
) -> list[tuple[str, Callable[[], torch.Tensor], Callable[[], None]]]:
    """Per-block training-mode cases: ``(label, forward, forward + backward)`` per block.

    Every block runs on the input it receives in a forward of a ``(batch, 3, 50, 25, 2)``
    batch through the seeded encoder of :func:`encoder_cases`; inputs require grad and
    the adjacency is rebuilt from the edge-importance parameter in each call, as in the
    encoder, so the backward computes the same gradients as in a training step.
    """
    torch.manual_seed(0)
    encoder = STGCN("ntu-rgb+d", hidden_channels=16, hidden_dim=256).to(device).train()
    x = torch.randn(batch, 3, 50, 25, 2, device=device)
    inputs: list[torch.Tensor] = []
    hooks = [block.register_forward_pre_hook(lambda _, args: inputs.append(args[0]))
             for block in encoder.blocks]  # fmt: skip
    with torch.no_grad():
        encoder.features(x)
    for hook in hooks:
        hook.remove()
    cases = []
    for i, block_input in enumerate(inputs):
        shape = "x".join(map(str, block_input.shape[1:]))
        closures = _block_closures(encoder, i, block_input.clone().requires_grad_())
        cases.append((f"block {i + 1} ({shape})", *closures))
    return cases


def run_blocks(batch: int = 32, repeats: int = 7) -> list[dict[str, Any]]:
    """Time every block's forward and forward + backward with the sgemm; one row per block."""
    cases: dict[str, Callable[[], object]] = {}
    for label, forward, forward_backward in block_cases(batch):
        cases[f"{label} fwd"] = forward
        cases[f"{label} fwd+bwd"] = forward_backward
    sgemm, sgemm_flops = sgemm_case()
    cases["sgemm"] = sgemm
    flops = {name: count_flops(fn) for name, fn in cases.items()}
    seconds = median_seconds(cases, repeats)
    sgemm_rate = sgemm_flops / seconds["sgemm"]
    total = sum(seconds[name] for name in cases if name.endswith("fwd+bwd"))
    rows = []
    for name in cases:
        if not name.endswith(" fwd"):
            continue
        label, both = name[: -len(" fwd")], name.replace(" fwd", " fwd+bwd")
        rows.append({
            "block": label,
            "fwd_ms": seconds[name] * 1e3,
            "fwd_pct_of_sgemm": 100 * flops[name] / seconds[name] / sgemm_rate,
            "fwd_bwd_ms": seconds[both] * 1e3,
            "fwd_bwd_gflop": flops[both] / 1e9,
            "fwd_bwd_pct_of_sgemm": 100 * flops[both] / seconds[both] / sgemm_rate,
            "pct_of_flops": 100 * flops[both] / sum(flops[n] for n in cases
                                                    if n.endswith("fwd+bwd")),
            "pct_of_time": 100 * seconds[both] / total,
        })  # fmt: skip
    return rows


def block_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of :func:`run_blocks` rows."""
    return markdown_table(
        ("block (C, T, V in)", "fwd ms", "fwd % sgemm", "fwd+bwd ms", "fwd+bwd GFLOP",
         "fwd+bwd % sgemm", "% of FLOPs", "% of time"),
        [tuple(r.values()) for r in rows],
    )  # fmt: skip


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
    print("\nPer block, training mode (N·M = 2N rows, persons folded into the batch):\n")
    print(block_table(run_blocks(args.batch, args.repeats)))


if __name__ == "__main__":
    main()
