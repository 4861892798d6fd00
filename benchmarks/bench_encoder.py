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
which blocks run near the sgemm rate and which are bound by memory traffic. Each block is
also timed, interleaved, the way the library ran it before its CPU layers were written by
hand ("before": :func:`aimclr.nn._fused.plain_layers`, i.e. the graph convolution as a
dilated convolution, the 1x1 residuals through oneDNN, ATen's BatchNorm statistics, and
contiguous activations), which shows what those layers and the layout buy per block.
``--precision bf16`` runs the blocks under CPU bfloat16 autocast (channels-last
activations, the encoder's ``"auto"`` layout there; "before" is contiguous).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import count_flops, markdown_table, median_seconds, sgemm_case, use_cpu_time

from aimclr.nn import STGCN
from aimclr.nn._fused import plain_layers

PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}


def encoder_cases(
    batch: int, device: str = "cpu", amp: torch.dtype | None = None, plain: bool = False
) -> tuple[Callable[[], None], ...]:
    """Forward (eval, ``no_grad``) and forward + backward (train) of the AimCLR encoder.

    The input is ``(batch, 3, 50, 25, 2)`` on ``device``; the encoder is
    ``STGCN(hidden_channels=16, hidden_dim=256)`` seeded with 0. ``amp``: run under
    autocast to that dtype; ``plain``: the path before the hand-written CPU layers (plain
    PyTorch layers, contiguous activations).
    """
    torch.manual_seed(0)
    layout = "contiguous" if plain else "auto"
    encoder = STGCN("ntu-rgb+d", hidden_channels=16, hidden_dim=256, memory_format=layout)
    encoder = encoder.to(device)
    x = torch.randn(batch, 3, 50, 25, 2, device=device)
    device_type = torch.device(device).type

    def context() -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        if amp is not None:  # (a disabled autocast context would switch off a caller's)
            stack.enter_context(torch.autocast(device_type, amp))
        if plain:
            stack.enter_context(plain_layers())
        return stack

    def forward() -> None:
        encoder.eval()
        with torch.no_grad(), context():
            encoder(x)

    def forward_backward() -> None:
        encoder.train()
        encoder.zero_grad(set_to_none=True)
        with context():
            out = encoder(x)
        with plain_layers() if plain else contextlib.nullcontext():
            out.float().sum().backward()  # float: the sum of a bf16 autocast output

    return forward, forward_backward


def run(batch: int = 32, repeats: int = 7) -> list[dict[str, Any]]:
    """Time encoder forward, forward + backward (fp32 and bf16; the library and "before",
    see :func:`encoder_cases`) and the sgemm; one row per case."""
    cases: dict[str, Callable[[], object]] = {}
    for precision, amp in PRECISIONS.items():
        forward, forward_backward = encoder_cases(batch, amp=amp)
        plain_forward, plain_backward = encoder_cases(batch, amp=amp, plain=True)
        cases[f"encoder forward {precision}"] = forward
        cases[f"encoder fwd+bwd {precision}"] = forward_backward
        cases[f"encoder forward {precision}, before"] = plain_forward
        cases[f"encoder fwd+bwd {precision}, before"] = plain_backward
    sgemm, _ = sgemm_case()
    cases["sgemm 2048^3"] = sgemm
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
    encoder: STGCN, i: int, block_input: torch.Tensor, amp: torch.dtype | None, plain: bool
) -> tuple[Callable[[], torch.Tensor], Callable[[], None]]:
    """Forward and forward + backward of block ``i`` of ``encoder`` on ``block_input``."""
    block = encoder.blocks[i]
    edge_importance = encoder.edge_importance

    def forward() -> torch.Tensor:
        with contextlib.ExitStack() as stack:
            if amp is not None:
                stack.enter_context(torch.autocast("cpu", amp))
            if plain:
                stack.enter_context(plain_layers())
            adj = encoder.A if edge_importance is None else encoder.A * edge_importance[i]
            out: torch.Tensor = block(block_input, adj)
        return out

    upstream = torch.randn_like(forward())

    def forward_backward() -> None:
        encoder.zero_grad(set_to_none=True)
        with contextlib.ExitStack() as stack:
            if plain:
                stack.enter_context(plain_layers())
            torch.autograd.backward([forward()], [upstream])

    return forward, forward_backward


def block_cases(
    batch: int, precision: str = "fp32", device: str = "cpu"
) -> list[tuple[str, Callable[[], torch.Tensor], Callable[[], None], Callable[[], None]]]:
    """Per-block training-mode cases: ``(label, forward, fwd+bwd, fwd+bwd before)``.

    Every block runs on the input it receives in a forward of a ``(batch, 3, 50, 25, 2)``
    batch through the seeded encoder of :func:`encoder_cases` (under autocast for
    ``bf16``, so in its dtype and layout); inputs require grad and the adjacency is
    rebuilt from the edge-importance parameter in each call, as in the encoder, so the
    backward computes the same gradients as in a training step. "Before" runs the block
    with the plain layers on a contiguous copy of its input.
    """
    amp = PRECISIONS[precision]
    torch.manual_seed(0)
    encoder = STGCN("ntu-rgb+d", hidden_channels=16, hidden_dim=256).to(device).train()
    x = torch.randn(batch, 3, 50, 25, 2, device=device)
    inputs: list[torch.Tensor] = []
    hooks = [block.register_forward_pre_hook(lambda _, args: inputs.append(args[0]))
             for block in encoder.blocks]  # fmt: skip
    with torch.no_grad(), torch.autocast("cpu", amp, enabled=amp is not None):
        encoder.features(x)
    for hook in hooks:
        hook.remove()
    cases = []
    for i, block_input in enumerate(inputs):
        shape = "x".join(map(str, block_input.shape[1:]))
        forward, both = _block_closures(encoder, i, block_input.clone().requires_grad_(), amp,
                                        plain=False)  # fmt: skip
        contiguous = block_input.contiguous().requires_grad_()
        _, plain_both = _block_closures(encoder, i, contiguous, amp, plain=True)
        cases.append((f"block {i + 1} ({shape})", forward, both, plain_both))
    return cases


def run_blocks(batch: int = 32, repeats: int = 7, precision: str = "fp32") -> list[dict[str, Any]]:
    """Time every block's forward and forward + backward, and its forward + backward
    before (see :func:`block_cases`), round-robin with the sgemm; one row per block."""
    cases: dict[str, Callable[[], object]] = {}
    for label, forward, forward_backward, plain_backward in block_cases(batch, precision):
        cases[f"{label} fwd"] = forward
        cases[f"{label} fwd+bwd"] = forward_backward
        cases[f"{label} plain"] = plain_backward
    sgemm, sgemm_flops = sgemm_case()
    cases["sgemm"] = sgemm
    flops = {name: count_flops(fn) for name, fn in cases.items() if not name.endswith(" plain")}
    seconds = median_seconds(cases, repeats)
    sgemm_rate = sgemm_flops / seconds["sgemm"]
    total = sum(seconds[name] for name in cases if name.endswith("fwd+bwd"))
    total_flops = sum(flops[n] for n in flops if n.endswith("fwd+bwd"))
    rows = []
    for name in cases:
        if not name.endswith(" fwd"):
            continue
        label = name[: -len(" fwd")]
        both, plain = f"{label} fwd+bwd", f"{label} plain"
        rows.append({
            "block": label,
            "precision": precision,
            "fwd_ms": seconds[name] * 1e3,
            "fwd_pct_of_sgemm": 100 * flops[name] / seconds[name] / sgemm_rate,
            "fwd_bwd_ms": seconds[both] * 1e3,
            "fwd_bwd_gflop": flops[both] / 1e9,
            "fwd_bwd_pct_of_sgemm": 100 * flops[both] / seconds[both] / sgemm_rate,
            "pct_of_flops": 100 * flops[both] / total_flops,
            "pct_of_time": 100 * seconds[both] / total,
            "plain_fwd_bwd_ms": seconds[plain] * 1e3,
            "gain": seconds[plain] / seconds[both],
        })  # fmt: skip
    return rows


def block_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of :func:`run_blocks` rows, with a total row."""
    headers = ("block (C, T, V in)", "fwd ms", "fwd % sgemm", "fwd+bwd ms", "fwd+bwd GFLOP",
               "fwd+bwd % sgemm", "% of FLOPs", "% of time", "before: fwd+bwd ms",
               "gain")  # fmt: skip
    body = [tuple(v for k, v in r.items() if k != "precision") for r in rows]
    both = sum(r["fwd_bwd_ms"] for r in rows)
    plain = sum(r["plain_fwd_bwd_ms"] for r in rows)
    body.append(("all ten", sum(r["fwd_ms"] for r in rows), float("nan"), both,
                 sum(r["fwd_bwd_gflop"] for r in rows), float("nan"), 100.0, 100.0, plain,
                 plain / both))  # fmt: skip
    return markdown_table(headers, body)


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
    parser.add_argument("--precision", choices=tuple(PRECISIONS), default="fp32",
                        help="per-block table in float32 or under bfloat16 autocast")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with CPU time (robust on a busy machine; --threads 1 only)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.cpu_time:
        use_cpu_time()
    rows = run(args.batch, args.repeats)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
        f"input ({args.batch}, 3, 50, 25, 2), median of {args.repeats}\n"
    )
    print(table(rows))
    print(f"\nPer block, training mode, {args.precision} (N·M = 2N rows, persons folded into "
          "the batch; before: plain layers, contiguous):\n")  # fmt: skip
    print(block_table(run_blocks(args.batch, args.repeats, args.precision)))


if __name__ == "__main__":
    main()
