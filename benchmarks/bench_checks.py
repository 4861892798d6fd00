"""What input validation costs per AimCLR step on a CPU, where it is most visible.

Run with ``python benchmarks/bench_checks.py [--baseline-src DIR] [--repeats 60]``.

A tiny configuration makes the Python-side checks a visible share of the step:
``STGCN(hidden_channels=2, hidden_dim=16, dropout=0)``, batch 4, ``T = 16``, one person,
``K = 64``, the ``"aimclr"`` preset in stage 2 (NNM active), one thread. Reported:

* the calls of the library's tensor-check helpers (``aimclr/_checks.py``) and of the
  encoder's ``check_input`` in one forward pass (counted with ``cProfile``, so exact);
* median times, every case timed round-robin in one process (so a change in the load of
  a shared machine affects all cases alike): the validation at the step's start
  (``AimCLR._checked_views``), the step (forward, backward, SGD step), the step with
  ``check_finite_inputs=True``, the step's loss, queue and momentum calls made through
  the public checking functions (as the step made them before) and through the
  unchecked cores (as it makes them now), and :func:`~aimclr.model.check_finite_views`
  on the tiny views and on three batch-32 NTU-sized views ``(32, 3, 50, 25, 2)``.

With ``--baseline-src DIR`` (a directory holding the ``aimclr`` package before a change,
e.g. made with ``git archive <rev> aimclr | tar -x -C DIR``) that package is loaded
next to the current one under the name ``aimclr_baseline`` (a copy with its imports
renamed, in a temporary directory), and its step and validation are timed in the same
round-robin as ``before``.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import pstats
import re
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import markdown_table, median_seconds

import aimclr.model
from aimclr import _cores as core
from aimclr.losses import (
    contrastive_logits,
    d3m_loss,
    info_nce_from_logits,
    mine_neighbors,
    nnm_loss,
)
from aimclr.model import check_finite_views
from aimclr.nn.momentum import update_momentum

SHAPE = (4, 3, 16, 25, 1)  # (N, C, T, V, M)
BASELINE = "aimclr_baseline"


def load_baseline(source: Path, workdir: Path) -> ModuleType:
    """``source/aimclr`` imported as ``aimclr_baseline`` (its imports renamed)."""
    target = workdir / BASELINE
    shutil.copytree(source / "aimclr", target)
    for path in target.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"\baimclr(?=[.\s])", BASELINE, text), encoding="utf-8")
    sys.path.insert(0, str(workdir))
    return importlib.import_module(f"{BASELINE}.model")


def build(package: ModuleType, **options: Any) -> tuple[Any, torch.optim.Optimizer]:
    """The tiny model in stage 2 (``mining_epoch=1``) and an SGD optimiser."""
    stgcn = importlib.import_module(package.__name__.replace(".model", ".nn.stgcn"))
    torch.manual_seed(0)
    encoder = stgcn.STGCN(hidden_channels=2, hidden_dim=16, dropout=0.0)
    model = package.AimCLR.preset("aimclr", encoder, feature_dim=8, queue_size=64,
                                  mining_epoch=1, **options)  # fmt: skip
    return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def count_checks(model: Any, views: list[torch.Tensor], package: str) -> dict[str, int]:
    """Calls of the tensor-check helpers and of ``check_input`` in one forward pass."""
    profile = cProfile.Profile()
    profile.enable()
    model(*views, epoch=2)
    profile.disable()
    helpers = ("check_tensor", "check_rank", "check_floating", "check_same_device")
    counts = {"tensor checks (_checks.py)": 0, "encoder check_input": 0}
    for (filename, _, function), row in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        if Path(filename).parent.name == package and function in helpers:
            counts["tensor checks (_checks.py)"] += row[1]
        elif function == "check_input":
            counts["encoder check_input"] += row[1]
    return counts


def step_case(model: Any, optimizer: torch.optim.Optimizer, views: list[torch.Tensor]) -> Any:
    def step() -> None:
        out = model(*views, epoch=2)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()

    return step


def inner_cases(model: Any) -> dict[str, Any]:
    """The loss, queue and momentum calls of one stage-2 step, through the public
    (checking) functions as the step made them before, and through the unchecked cores
    as it makes them now."""
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

    return {"loss/queue/momentum calls, checking functions": checked,
            "loss/queue/momentum calls, unchecked cores": unchecked}  # fmt: skip


def run(baseline: ModuleType | None, repeats: int) -> None:
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(1)
    views = [torch.randn(SHAPE, generator=generator) for _ in range(3)]
    sides = {"after": aimclr.model} | ({} if baseline is None else {"before": baseline})
    models = {side: build(package) for side, package in sides.items()}
    for model, _ in models.values():
        for _ in range(3):
            model(*views, epoch=2)
    counts = {side: count_checks(model, views, sides[side].__name__.split(".")[0])
              for side, (model, _) in models.items()}  # fmt: skip
    names = list(counts["after"])
    print(markdown_table(("calls per forward", *counts),
                         [(name, *(c[name] for c in counts.values())) for name in names]))

    cases: dict[str, Any] = {}
    for side, (model, optimizer) in models.items():
        cases[f"validation at the step's start, {side} (µs)"] = (
            lambda model=model: model._checked_views(views[0], views[1], views[2], 2, False)
        )
        cases[f"step, {side} (µs)"] = step_case(model, optimizer, views)
    finite, finite_optimizer = build(aimclr.model, check_finite_inputs=True)
    cases["step with check_finite_inputs, after (µs)"] = step_case(finite, finite_optimizer, views)
    cases.update({f"{name} (µs)": fn for name, fn in inner_cases(models["after"][0]).items()})
    tiny = dict(zip(("x_extreme", "x_query", "x_key"), views, strict=True))
    ntu = {name: torch.randn(32, 3, 50, 25, 2) for name in tiny}
    cases["check_finite_views, three tiny views (µs)"] = lambda: check_finite_views(tiny)
    cases["check_finite_views, three batch-32 NTU views (µs)"] = lambda: check_finite_views(ntu)
    times = median_seconds(cases, repeats=repeats, warmup=5)
    print()
    print(markdown_table(("case (median)", "µs"), [(n, t * 1e6) for n, t in times.items()]))
    step = times["step, after (µs)"]
    print(f"\ncheck_finite_inputs=True / off: "
          f"{times['step with check_finite_inputs, after (µs)'] / step:.3f}")
    if baseline is not None:
        print(f"step after / before: {step / times['step, before (µs)']:.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline-src", type=Path, help="holds the aimclr package before")
    parser.add_argument("--repeats", type=int, default=60)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        baseline = None if args.baseline_src is None else load_baseline(
            args.baseline_src, Path(workdir)
        )
        run(baseline, args.repeats)


if __name__ == "__main__":
    main()
