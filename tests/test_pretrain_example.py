"""The example trainer: resume is exact, bad input stops early, NaN stops cleanly, DDP runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from script_loading import load_example

import aimclr.model
from aimclr.data import open_dataset
from aimclr.eval import extract_features, knn_accuracy
from aimclr.training import cli

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "pretrain.py"
TINY = [
    "--train-samples", "48", "--test-samples", "24", "--frames", "16",
    "--batch-size", "16", "--hidden-channels", "2", "--hidden-dim", "8",
    "--feature-dim", "8", "--queue-size", "40", "--mining-epoch", "1",
    "--knn-every", "0", "--linear-epochs", "0", "--threads", "1", "--quiet",
]  # fmt: skip


def load_pretrain() -> ModuleType:
    return load_example("pretrain", "aimclr_example")


@pytest.fixture(scope="module")
def pretrain() -> ModuleType:
    return load_pretrain()


def final_state(workdir: Path) -> dict[str, Any]:
    state: dict[str, Any] = torch.load(workdir / "last.pt", weights_only=True)
    return state


def test_compile_option(pretrain: ModuleType) -> None:
    assert pretrain.parse_args(["--compile", "reduce-overhead"]).compile == "reduce-overhead"
    assert pretrain.parse_args([]).compile == "off"


def test_resumed_run_is_bit_identical(pretrain: ModuleType, tmp_path: Path) -> None:
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert pretrain.main([*TINY, "--epochs", "3", "--workdir", str(straight)]) == 0
    assert pretrain.main([*TINY, "--epochs", "1", "--workdir", str(resumed)]) == 0
    assert pretrain.main([*TINY, "--epochs", "3", "--workdir", str(resumed), "--resume"]) == 0

    expected, actual = final_state(straight), final_state(resumed)
    assert actual["epoch"] == expected["epoch"] == 3
    assert expected["model"].keys() == actual["model"].keys()
    for name, tensor in expected["model"].items():
        assert torch.equal(tensor, actual["model"][name]), name
    assert torch.equal(expected["model"]["queue.keys"], actual["model"]["queue.keys"])
    # Epoch 2 and 3 logged once each in the resumed run, with the same losses.
    lines = [json.loads(line) for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    reference = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2, 3]
    for got, want in zip(lines, reference, strict=True):
        assert got["loss"] == want["loss"]
    # NNM replaced InfoNCE after the mining epoch.
    assert "info_nce" in reference[0] and "nnm" in reference[2]
    results = json.loads((straight / "results.json").read_text())
    assert 0.0 <= results["pretrained"]["knn200"] <= 1.0


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(
    pretrain: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls = {"n": 0}
    original = aimclr._cores.info_nce  # the unchecked InfoNCE core of the model's step

    def poisoned(log_p: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        value = original(log_p)
        return value * float("nan") if calls["n"] > 3 else value  # epoch 2 of 3 steps

    monkeypatch.setattr(aimclr._cores, "info_nce", poisoned)
    workdir = tmp_path / "run"
    code = pretrain.main([*TINY, "--epochs", "3", "--mining-epoch", "5", "--workdir",
                          str(workdir)])
    assert code == 3
    assert "non-finite loss at epoch 2, step 1" in capsys.readouterr().err
    state = final_state(workdir)
    assert state["epoch"] == 1
    assert all(bool(torch.isfinite(t).all()) for t in state["model"].values()
               if t.is_floating_point())
    assert not list(workdir.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--data", "missing.npz"], "missing.npz"),
        (["--data", "data.csv"], "must be 'synthetic', 'ntu:DIR' or a .npz file, got 'data"),
        (["--data", "ntu:nowhere"], "--data ntu:nowhere: no folder 'nowhere'"),
    ],
)
def test_bad_data_fails_before_training(
    pretrain: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    arguments: list[str], message: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert pretrain.main([*TINY, *arguments, "--workdir", "run"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run" / "last.pt").exists()


def test_resume_without_checkpoint_is_a_clear_error(
    pretrain: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pretrain.main([*TINY, "--workdir", str(tmp_path), "--resume"]) == 2
    assert "checkpoint file not found" in capsys.readouterr().err


def test_resume_with_other_run_options_is_a_clear_error(
    pretrain: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pretrain.main([*TINY, "--epochs", "1", "--workdir", str(tmp_path)]) == 0
    before = (tmp_path / "last.pt").read_bytes()
    wider = [*TINY, "--queue-size", "48", "--stream", "bone", "--epochs", "2"]
    assert pretrain.main([*wider, "--workdir", str(tmp_path), "--resume"]) == 2
    message = capsys.readouterr().err
    assert "--stream 'joint' -> 'bone'; --queue-size 40 -> 48" in message
    assert (tmp_path / "last.pt").read_bytes() == before  # nothing overwritten
    # The schedule may change: a longer run resumes.
    assert pretrain.main([*TINY, "--epochs", "2", "--workdir", str(tmp_path), "--resume"]) == 0


def test_two_process_torchrun_smoke(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [  # --standalone: torchrun picks a free port itself (no race for one)
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        str(SCRIPT),
        *TINY, "--epochs", "2", "--workdir", str(tmp_path / "ddp"), "--device", "cpu",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    state = final_state(tmp_path / "ddp")
    assert state["epoch"] == 2
    # Each of the 2 epochs runs 48 / (2 ranks * 16) = 1 step per rank; both ranks'
    # keys are gathered into the queue, so it advanced by 2 * 2 * 16 = 64 keys (mod 40).
    assert int(state["model"]["queue.ptr"]) == 64 % 40


def load_evaluate() -> ModuleType:
    # No sys.path change: evaluate.py imports nothing from examples/.
    return load_example("evaluate", "aimclr_example")


EVAL_DATA = ["--train-samples", "48", "--test-samples", "24", "--frames", "16", "--threads", "1"]


@pytest.mark.parametrize("protocol", ["knn", "linear", "finetune", "semi"])
def test_evaluate_a_library_checkpoint(
    pretrain: ModuleType, tmp_path: Path, protocol: str
) -> None:
    assert pretrain.main([*TINY, "--epochs", "1", "--workdir", str(tmp_path)]) == 0
    evaluate = load_evaluate()
    scores = [] if protocol == "knn" else ["--save-scores", str(tmp_path / "scores.pt")]
    result = evaluate.evaluate([str(tmp_path / "last.pt"), "--protocol", protocol,
                                "--eval-epochs", "2", "--eval-batch-size", "16",
                                "--label-fraction", "0.5", *scores, *EVAL_DATA])
    data = open_dataset("synthetic", num_frames=16, train_samples=48, test_samples=24)
    test_labels = torch.tensor([int(y) for _, y in data.test])
    if protocol == "knn":  # the library's kNN on the checkpoint's encoder, recomputed here
        model = cli.build_model(pretrain.parse_args([*TINY, *EVAL_DATA]))
        model.load_state_dict(torch.load(tmp_path / "last.pt")["model"])
        train_x, train_y = extract_features(model.encoder_q, data.train)
        test_x, _ = extract_features(model.encoder_q, data.test)
        for name, k in (("knn200", 200), ("knn1", 1)):
            expected = knn_accuracy(train_x, train_y, test_x, test_labels, k=k, num_classes=12)
            assert result[name] == expected, name
    else:  # the saved (N_test, classes) logits give the reported best accuracy
        scores = torch.load(tmp_path / "scores.pt")
        assert scores.shape == (24, 12)
        best = float((scores.argmax(dim=1) == test_labels).float().mean())
        assert result["top1_best"] == pytest.approx(best)
        assert 0.0 <= result["top1_last"] <= 1.0


def test_evaluate_finetuning_repeats_with_its_seed(pretrain: ModuleType, tmp_path: Path) -> None:
    # The classifier head is drawn from --seed, not from the global random state.
    assert pretrain.main([*TINY, "--epochs", "1", "--workdir", str(tmp_path)]) == 0
    evaluate = load_evaluate()
    scores = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        path = tmp_path / f"scores{global_seed}.pt"
        evaluate.evaluate([str(tmp_path / "last.pt"), "--protocol", "semi", "--eval-epochs",
                           "2", "--eval-batch-size", "16", "--label-fraction", "0.5",
                           "--save-scores", str(path), *EVAL_DATA])  # fmt: skip
        scores.append(torch.load(path))
    assert torch.equal(scores[0], scores[1])


def test_evaluate_a_reference_checkpoint(
    tmp_path: Path, reference_case: dict[str, Any]
) -> None:
    path = tmp_path / "epoch300_model.pt"
    torch.save(reference_case["state_dict"], path)
    evaluate = load_evaluate()
    result = evaluate.evaluate([str(path), "--reference", "--protocol", "knn", *EVAL_DATA])
    assert 0.0 <= result["knn1"] <= 1.0


def test_evaluate_rejects_a_foreign_checkpoint(tmp_path: Path) -> None:
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    assert load_evaluate().main([str(tmp_path / "other.pt"), *EVAL_DATA]) == 2


def test_evaluate_uses_the_checkpoint_s_stream_and_checks_its_arguments(
    pretrain: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pretrain.main([*TINY, "--epochs", "1", "--stream", "bone",
                          "--workdir", str(tmp_path)]) == 0  # fmt: skip
    evaluate, checkpoint = load_evaluate(), str(tmp_path / "last.pt")
    knn = [checkpoint, "--protocol", "knn", *EVAL_DATA]
    assert evaluate.evaluate(knn)["stream"] == "bone"  # as trained
    assert evaluate.evaluate([*knn, "--stream", "motion"])["stream"] == "motion"  # as asked
    assert evaluate.main([str(tmp_path / "missing.pt"), *EVAL_DATA]) == 2
    assert "checkpoint file not found" in capsys.readouterr().err
    assert evaluate.main([*knn, "--save-scores", str(tmp_path / "s.pt")]) == 2
    assert "--save-scores needs a classifier's logits" in capsys.readouterr().err


def test_evaluate_sizes_the_classifier_through_the_encoder_contract(
    pretrain: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An encoder whose width is only its out_channels (no hidden_dim attribute)."""
    assert pretrain.main([*TINY, "--epochs", "1", "--workdir", str(tmp_path)]) == 0
    evaluate = load_evaluate()

    class WidthOnly(evaluate.STGCN):  # type: ignore[name-defined,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.width = self.__dict__.pop("hidden_dim")

        @property
        def out_channels(self) -> int:
            return int(self.width)

    monkeypatch.setattr(evaluate, "STGCN", WidthOnly)
    result = evaluate.evaluate([str(tmp_path / "last.pt"), "--protocol", "finetune",
                                "--eval-epochs", "1", "--eval-batch-size", "16", *EVAL_DATA])
    assert 0.0 <= result["top1_best"] <= 1.0
