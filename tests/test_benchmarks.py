"""The benchmarks' reference-like baseline computes the library's step."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import torch

from aimclr.model import AimCLR
from aimclr.nn import STGCN

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _reference_like import ReferenceLikeStep


@pytest.mark.parametrize("stage", [1, 2])
def test_reference_like_step_equals_the_library_step(stage: int) -> None:
    # Without dropout both paths compute the same loss, gradients, BatchNorm statistics,
    # key-encoder update and queue (float64 keeps rounding out of the way).
    torch.manual_seed(0)
    encoder = STGCN(hidden_channels=4, hidden_dim=16, dropout=0.0)
    model = AimCLR.preset("aimclr", encoder, queue_size=64, feature_dim=8, head_hidden_dim=16,
                          momentum=0.9).double()  # fmt: skip
    views = [torch.randn(4, 3, 12, 25, 2, dtype=torch.float64) for _ in range(3)]
    library, reference = copy.deepcopy(model), copy.deepcopy(model)
    epoch = 1 if stage == 1 else model.mining_epoch + 1
    out = library(*views, epoch=epoch)
    out.loss.backward()
    step = ReferenceLikeStep(reference)
    loss = step.loss(*views, stage=stage)
    loss.backward()
    torch.testing.assert_close(loss, out.loss, rtol=1e-12, atol=1e-12)
    for (name, a), b in zip(library.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=0, msg=name)  # momentum update
        if a.grad is not None:
            assert b.grad is not None
            torch.testing.assert_close(b.grad, a.grad, rtol=1e-9, atol=1e-12, msg=name)
    for (name, a), b in zip(library.named_buffers(), reference.buffers(), strict=True):
        if "queue" not in name and a.dtype.is_floating_point:
            torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-14, msg=name)
    torch.testing.assert_close(step.queue, library.queue.keys.t(), rtol=0, atol=1e-12)
    assert step.ptr == int(library.queue.ptr) == 4


def test_reference_like_step_draws_dropout_and_updates() -> None:
    torch.manual_seed(0)
    model = AimCLR.preset("aimclr", STGCN(hidden_channels=4, hidden_dim=16), queue_size=64,
                          feature_dim=8, head_hidden_dim=16)  # fmt: skip
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.encoder_q.parameters()]
    views = [torch.randn(4, 3, 12, 25, 2) for _ in range(3)]
    step = ReferenceLikeStep(model, optimiser)
    torch.manual_seed(1)
    first = step(*views, stage=2)
    torch.manual_seed(2)
    second = step.loss(*views, stage=2)  # another dropout mask, updated weights
    assert torch.isfinite(first) and float(first.detach()) != float(second.detach())
    after = model.encoder_q.parameters()
    assert any(not torch.equal(p, q) for p, q in zip(before, after, strict=True))
    with pytest.raises(ValueError, match="'aimclr' preset"):
        ReferenceLikeStep(AimCLR.preset("skeletonclr", STGCN(hidden_channels=4, hidden_dim=16)))


def test_run_all_keeps_the_sections_other_benchmarks_wrote(tmp_path: Path) -> None:
    from run_all import sections_of_other_benchmarks

    results = tmp_path / "results.md"
    results.write_text(
        "# aimclr benchmarks\n\n## Encoder (bench_encoder.py)\n\nold encoder table\n\n"
        "## Preparing raw NTU RGB+D files (bench_prepare.py)\n\n| a |\n|---|\n\n"
        "## Fault checks (bench_faults.py)\n\nfaults text\n", encoding="utf-8")
    kept = sections_of_other_benchmarks(results)
    assert [part.splitlines()[0] for part in kept] == [
        "## Preparing raw NTU RGB+D files (bench_prepare.py)", "## Fault checks (bench_faults.py)"]
    assert "| a |" in kept[0] and "faults text" in kept[1]
    assert sections_of_other_benchmarks(tmp_path / "missing.md") == []


def test_write_results_section_replaces_its_section_only(tmp_path: Path) -> None:
    from _common import write_results_section

    results = tmp_path / "results.md"
    write_results_section("## B (bench_b.py)\n\nfirst\n", "## B (bench_b.py)", results)
    results.write_text("# top\n\n## A\n\na\n\n" + results.read_text(encoding="utf-8")
                       + "\n## C\n\nc\n", encoding="utf-8")  # fmt: skip
    write_results_section("## B (bench_b.py)\n\nsecond\n", "## B (bench_b.py)", results)
    text = results.read_text(encoding="utf-8")
    assert "first" not in text and text.count("## B") == 1
    assert text.index("## A") < text.index("second") < text.index("## C")


def test_version_workers_import_the_checkout_they_are_given(tmp_path: Path) -> None:
    # bench_versions.py times two checkouts; each worker must import its own aimclr, not
    # the installed (editable) one or the one in the working folder.
    from bench_versions import CHECKOUT, SECTION, _imported_from

    other = tmp_path / "other"
    (other / "aimclr").mkdir(parents=True)
    (other / "aimclr" / "__init__.py").write_text("", encoding="utf-8")
    assert _imported_from(other) == other / "aimclr"
    assert _imported_from(CHECKOUT) == CHECKOUT / "aimclr"
    assert SECTION.endswith("(bench_versions.py)")  # run_all.py keeps the section
