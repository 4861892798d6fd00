"""What input validation costs per AimCLR step on a CPU, where it is most visible.

Run with ``python benchmarks/bench_checks.py [--baseline-src DIR] [--rounds 4]``.

A tiny configuration makes the Python-side checks a visible share of the step:
``STGCN(hidden_channels=2, hidden_dim=16, dropout=0)``, batch 4, ``T = 16``, one person,
``K = 64``, the ``"aimclr"`` preset in stage 2 (NNM active), one thread. For the code on
``PYTHONPATH`` it reports

* the calls of the library's check helpers (``aimclr/_checks.py``) and of the encoder's
  ``check_input`` in one forward pass (counted with ``cProfile``, so exact);
* the median time of the validation at the step's start (``AimCLR._checked_views``);
* the median step time (forward, backward, SGD step), and with
  ``check_finite_inputs=True`` where the model has that option, timed round-robin in
  the same process (so the ratio is robust to the machine's load);
* the step's loss, queue and momentum calls made through the public checking functions
  (as the step made them before) and through the unchecked cores (as it makes them
  now), round-robin in one process: the difference is the validation the step saves;
* :func:`~aimclr.model.check_finite_views` on the tiny views and on three batch-32
  NTU-sized views ``(32, 3, 50, 25, 2)``.

With ``--baseline-src DIR`` (a copy of the ``aimclr`` package before a change, e.g.
``git archive <rev> aimclr | tar -x -C DIR``) the script runs itself ``--rounds`` times on
each side, alternating processes, and prints medians and ratios: between processes the
load of a shared machine differs, so read the step-time ratio with that in mind; the call
counts are exact.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import markdown_table, median_seconds

SHAPE = (4, 3, 16, 25, 1)  # (N, C, T, V, M)


def build(**options: Any) -> tuple[Any, list[torch.Tensor], torch.optim.Optimizer]:
    """The tiny model in stage 2 (``mining_epoch=1``), three views and an SGD optimiser."""
    from aimclr.model import AimCLR
    from aimclr.nn.stgcn import STGCN

    torch.manual_seed(0)
    encoder = STGCN(hidden_channels=2, hidden_dim=16, dropout=0.0)
    model = AimCLR.preset("aimclr", encoder, feature_dim=8, queue_size=64, mining_epoch=1,
                          **options)  # fmt: skip
    generator = torch.Generator().manual_seed(1)
    views = [torch.randn(SHAPE, generator=generator) for _ in range(3)]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return model, views, optimizer


def count_checks(model: Any, views: list[torch.Tensor]) -> dict[str, int]:
    """Calls of the check helpers and of ``check_input`` in one forward pass."""
    profile = cProfile.Profile()
    profile.enable()
    model(*views, epoch=2)
    profile.disable()
    counts = {"tensor checks (aimclr/_checks.py)": 0, "encoder check_input": 0}
    for (filename, _, function), row in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        calls = row[1]
        if filename.endswith(os.path.join("aimclr", "_checks.py")) and function in (
            "check_tensor", "check_rank", "check_floating", "check_same_device"
        ):  # fmt: skip
            counts["tensor checks (aimclr/_checks.py)"] += calls
        elif function == "check_input":
            counts["encoder check_input"] += calls
    return counts


def measure(repeats: int) -> dict[str, Any]:
    """Counts and timings for the aimclr on ``sys.path``."""
    torch.set_num_threads(1)
    model, views, optimizer = build()
    for _ in range(3):
        model(*views, epoch=2)
    result: dict[str, Any] = {"checks per forward": count_checks(model, views)}

    def validation() -> None:
        model._checked_views(views[0], views[1], views[2], 2, False)

    def step(net: Any, opt: torch.optim.Optimizer) -> None:
        out = net(*views, epoch=2)
        opt.zero_grad()
        out.loss.backward()
        opt.step()

    cases = {"validation": validation, "step": lambda: step(model, optimizer)}
    try:
        finite, _, finite_optimizer = build(check_finite_inputs=True)
    except TypeError:  # a version without the option
        pass
    else:
        cases["step, check_finite_inputs"] = lambda: step(finite, finite_optimizer)
    inner = inner_calls(model)
    if inner is not None:
        cases.update(inner)
    try:
        from aimclr.model import check_finite_views
    except ImportError:  # a version without it
        pass
    else:
        tiny = dict(zip(("x_extreme", "x_query", "x_key"), views, strict=True))
        ntu = {name: torch.randn(32, 3, 50, 25, 2) for name in tiny}  # batch 32, NTU size
        cases["finite check, tiny views"] = lambda: check_finite_views(tiny)
        cases["finite check, NTU views"] = lambda: check_finite_views(ntu)
    times = median_seconds(cases, repeats=repeats, warmup=5)
    result["validation_us"] = times.pop("validation") * 1e6
    if inner is not None:
        checked, unchecked = times.pop("inner, checked"), times.pop("inner, unchecked")
        result["inner_calls_us"] = {"checked": checked * 1e6, "unchecked": unchecked * 1e6}
    finite = {name: times.pop(name) * 1e6 for name in list(times) if name.startswith("finite")}
    if finite:
        result["finite_check_us"] = finite
    result["step_ms"] = {name: seconds * 1e3 for name, seconds in times.items()}
    return result


def inner_calls(model: Any) -> dict[str, Any] | None:
    """The loss, queue and momentum calls of one stage-2 step, through the public
    (checking) functions as the step made them before, and through the unchecked cores
    it makes now; ``None`` for a version without the cores."""
    try:
        from aimclr import _cores as core
    except ImportError:
        return None
    from aimclr.losses import (
        contrastive_logits,
        d3m_loss,
        info_nce_from_logits,
        mine_neighbors,
        nnm_loss,
    )
    from aimclr.nn.momentum import update_momentum

    generator = torch.Generator().manual_seed(2)
    n, d = SHAPE[0], model.feature_dim
    q, q_e, q_ed, key = (torch.nn.functional.normalize(torch.randn(n, d, generator=generator),
                                                        dim=1) for _ in range(4))  # fmt: skip
    queue = model.queue.negatives()
    pairs = ((model.encoder_q, model.encoder_k), (model.head_q, model.head_k))

    def checked() -> None:
        logits = contrastive_logits(q, key, queue)
        info_nce_from_logits(logits)
        nnm_loss(logits, mine_neighbors([q, q_e, q_ed], queue, 1))
        for z in (q_e, q_ed):
            d3m_loss(logits=contrastive_logits(z, key, queue), target_logits=logits)
        for source, target in pairs:
            update_momentum(source, target, 0.999)
        model.queue.enqueue(key)

    def unchecked() -> None:
        logits = core.logits(q, key, queue, 0.07)
        log_p = core.log_probs(logits)
        core.info_nce(log_p)
        core.nnm(log_p, core.mine([q, q_e, q_ed], queue, 1), "mean")
        target_log_p = log_p.detach()
        target = target_log_p.exp()
        for z in (q_e, q_ed):
            core.d3m(core.log_probs(core.logits(z, key, queue, 0.07)), target_log_p, target)
        for source, target_net in pairs:
            core.update_parameters_(source, target_net, 0.999)
        model.queue._write(key)

    return {"inner, checked": checked, "inner, unchecked": unchecked}


def compare(baseline: Path, rounds: int, repeats: int) -> None:
    """Run this script alternately on the baseline and on the current code; print tables."""
    here = Path(__file__).resolve()
    current = str(here.parents[1])
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for _ in range(rounds):
        for side, source in (("before", str(baseline)), ("after", current)):
            env = {**os.environ, "PYTHONPATH": source, "OMP_NUM_THREADS": "1"}
            output = subprocess.run(
                [sys.executable, str(here), "--json", "--repeats", str(repeats)],
                env=env, check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            runs[side].append(json.loads(output.strip().splitlines()[-1]))
    before, after = runs["before"], runs["after"]
    rows = [(name, before[0]["checks per forward"][name], after[0]["checks per forward"][name])
            for name in after[0]["checks per forward"]]  # fmt: skip
    print(markdown_table(("calls per forward", "before", "after"), rows))

    def median(side: list[dict[str, Any]], key: str, case: str | None = None) -> float:
        values = [run[key] if case is None else run[key].get(case, float("nan")) for run in side]
        return statistics.median(values)

    timing = [("validation at the step's start (µs)", median(before, "validation_us"),
               median(after, "validation_us"))]  # fmt: skip
    for case in after[0]["step_ms"]:
        timing.append((f"{case} (ms)", median(before, "step_ms", case),
                       median(after, "step_ms", case)))  # fmt: skip
    print()
    print(markdown_table(("median over processes", "before", "after", "after / before"),
                         [(name, b, a, a / b) for name, b, a in timing]))  # fmt: skip
    inner = [run["inner_calls_us"] for run in after if "inner_calls_us" in run]
    if inner:
        checked = statistics.median(i["checked"] for i in inner)
        unchecked = statistics.median(i["unchecked"] for i in inner)
        print(f"\nloss, queue and momentum calls of one step, same process: {checked:.0f} µs "
              f"through the checking functions, {unchecked:.0f} µs through the cores")
    finite_us = [run["finite_check_us"] for run in after if "finite_check_us" in run]
    for name in finite_us[0] if finite_us else ():
        print(f"{name} (check_finite_views, three views): "
              f"{statistics.median(f[name] for f in finite_us):.0f} µs")
    ratio = median(after, "step_ms", "step") / median(before, "step_ms", "step")
    print(f"\nstep time after / before: {ratio:.3f} ({rounds} processes per side)")
    finite = [run["step_ms"]["step, check_finite_inputs"] / run["step_ms"]["step"]
              for run in after if "step, check_finite_inputs" in run["step_ms"]]  # fmt: skip
    if finite:
        print(f"check_finite_inputs=True / off, same process: {statistics.median(finite):.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline-src", type=Path, help="aimclr source before the change")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--json", action="store_true", help="print this run as one JSON line")
    args = parser.parse_args(argv)
    if args.baseline_src is not None:
        compare(args.baseline_src, args.rounds, args.repeats)
        return
    result = measure(args.repeats)
    if args.json:
        print(json.dumps(result))
        return
    counts = list(result["checks per forward"].items())
    print(markdown_table(("calls per forward", "count"), counts))
    print(f"\nvalidation at the step's start: {result['validation_us']:.0f} µs")
    for name, ms in result["step_ms"].items():
        print(f"{name}: {ms:.2f} ms")
    for name, us in result.get("finite_check_us", {}).items():
        print(f"{name} (check_finite_views, three views): {us:.0f} µs")
    if "inner_calls_us" in result:
        inner = result["inner_calls_us"]
        print(f"loss, queue and momentum calls of one step: {inner['checked']:.0f} µs through "
              f"the checking functions, {inner['unchecked']:.0f} µs through the cores")


if __name__ == "__main__":
    main()
