"""The examples stay thin, minimal.py runs, and three_streams.py is pretrain.py per stream."""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

import pytest
import torch
from script_loading import load_example

from aimclr.data import open_dataset
from aimclr.errors import SmallDataWarning
from aimclr.eval import fuse_scores

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str) -> ModuleType:
    return load_example(name, "aimclr_example")


@pytest.mark.parametrize("name", ["pretrain", "evaluate", "minimal", "three_streams"])
def test_examples_import_only_the_library(name: str) -> None:
    source = (EXAMPLES / f"{name}.py").read_text()
    tree = ast.parse(source)
    roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}  # fmt: skip
    roots |= {node.module.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module}  # fmt: skip
    assert roots <= {"__future__", "argparse", "collections", "functools", "json", "os",
                     "pathlib", "sys", "typing", "torch", "aimclr"}, roots  # fmt: skip
    assert "sys.path" not in source
    assert len(source.splitlines()) < 250  # thin: options and assembly only


def test_minimal_example_pretrains_and_evaluates(capsys: pytest.CaptureFixture[str]) -> None:
    scores = load("minimal").main(["--epochs", "2", "--mining-epoch", "1", "--train-samples",
                                   "32", "--test-samples", "12", "--batch-size", "16",
                                   "--queue-size", "64"])  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("epoch  1  loss") and "info_nce" in lines[0]
    assert "nnm" in lines[1] and "info_nce" not in lines[1]  # NNM after the mining epoch
    assert set(scores) == {"knn20", "knn1"} and all(0.0 <= v <= 1.0 for v in scores.values())
    assert lines[2] == ("held-out " + "  ".join(f"{k} {100 * v:.1f}%"
                                                for k, v in scores.items()))  # fmt: skip


# One epoch after mining epoch 0: the NNM stage.
TINY = ["--train-samples", "32", "--test-samples", "16", "--frames", "12", "--batch-size", "16",
        "--hidden-channels", "2", "--hidden-dim", "8", "--feature-dim", "8", "--queue-size",
        "32", "--mining-epoch", "0", "--epochs", "1", "--threads", "1", "--quiet"]  # fmt: skip


def test_three_streams_trains_each_stream_as_pretrain_does_and_fuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = load("three_streams").run(load("three_streams").parse_args(
        [*TINY, "--linear-epochs", "2", "--workdir", str(tmp_path / "3s")]))  # fmt: skip
    printed = capsys.readouterr().out
    assert load("pretrain").main([*TINY, "--stream", "motion", "--knn-every", "0",
                                  "--linear-epochs", "0", "--workdir", str(tmp_path / "m")]) == 0
    single = torch.load(tmp_path / "m" / "last.pt", weights_only=True)["model"]
    stream = torch.load(tmp_path / "3s" / "motion" / "last.pt", weights_only=True)["model"]
    for name, tensor in single.items():  # the same run, bit for bit
        assert torch.equal(tensor, stream[name]), name

    scores = {s: torch.load(tmp_path / "3s" / s / "scores.pt") for s in ("joint", "bone",
                                                                        "motion")}  # fmt: skip
    labels = torch.tensor([int(y) for _, y in open_dataset(
        "synthetic", num_frames=12, train_samples=32, test_samples=16).test])  # fmt: skip
    fused = fuse_scores(scores)  # 0.6 / 0.6 / 0.4
    assert results["fused"] == float((fused.argmax(dim=1) == labels).float().mean())
    for s in scores:
        best = float((scores[s].argmax(dim=1) == labels).float().mean())
        assert results["streams"][s]["linear_best"] == pytest.approx(best)
        assert f"  {s:<28}{100 * best:>6.1f}% (best)" in printed
    assert f"  {'fused (0.6 / 0.6 / 0.4)':<28}{100 * results['fused']:>6.1f}%" in printed


def test_three_streams_warns_of_a_small_training_set_and_says_where_it_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = [option for option in TINY if option != "--quiet"]
    options[options.index("--queue-size") + 1] = "64"  # twice the 32 training samples
    with pytest.warns(SmallDataWarning, match=r"K = 64 keys but the training set only N = 32"):
        load("three_streams").run(load("three_streams").parse_args(
            [*options, "--streams", "joint", "--linear-epochs", "1",
             "--workdir", str(tmp_path)]))  # fmt: skip
    assert f"writing to {tmp_path.resolve()}" in capsys.readouterr().out
