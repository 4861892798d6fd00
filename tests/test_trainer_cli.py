"""Hostile command lines: a clear message and exit code 2 before any work, never a traceback."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from script_loading import load_example

from aimclr.training import cli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TINY = [
    "--train-samples", "48", "--test-samples", "24", "--frames", "16", "--batch-size", "16",
    "--hidden-channels", "2", "--hidden-dim", "8", "--feature-dim", "8", "--queue-size", "40",
    "--knn-every", "0", "--linear-epochs", "0", "--threads", "1", "--quiet", "--epochs", "1",
]  # fmt: skip


def load(name: str) -> ModuleType:
    return load_example(name, "aimclr_cli")


@pytest.fixture(scope="module")
def examples() -> dict[str, ModuleType]:
    return {name: load(name) for name in ("pretrain", "evaluate", "three_streams")}


@pytest.fixture()
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "styles.npz").write_bytes(b"")  # only its name matters before loading
    return tmp_path


# (extra arguments, a fragment of the message); each must exit 2 before any work.
PRETRAIN_CASES = [
    (["--synthetic", "foo=bar"], "unknown synthetic option 'foo'; NAME in NAME=VALUE is one of"),
    (["--synthetic", "max_yaw_deg=abc"], "with a finite number as VALUE, got 'max_yaw_deg=abc'"),
    (["--synthetic", "max_yaw_deg"], "must be NAME=VALUE, got 'max_yaw_deg'"),
    (["--synthetic", "max_yaw_deg=-5"], "max_yaw_deg must be a finite number >= 0, got -5.0"),
    (["--synthetic", "size_range=[1]"], "a JSON list of two numbers as VALUE for size_range"),
    (["--synthetic", "seed=3"], "'seed' (seed is set by its own option)"),
    (["--synthetic", "shear=nan"], "with a finite number as VALUE, got 'shear=nan'"),
    (["--lr-steps", "2,x"], "--lr-steps: expected comma-separated integers >= 1, got '2,x'"),
    (["--lr-steps", "-1"], "--lr-steps: expected comma-separated integers >= 1"),
    (["--batch-size", "0"], "--batch-size: expected an integer >= 1, got '0'"),
    (["--batch-size", "1.5"], "--batch-size: expected an integer >= 1, got '1.5'"),
    (["--threads", "-1"], "--threads: expected an integer in [1, 1024], got '-1'"),
    (["--threads", "0"], "--threads: expected an integer in [1, 1024], got '0'"),
    (["--device", "meta"], "device 'meta' holds no data"),
    (["--device", "banana"], "unknown device 'banana'"),
    (["--device", "cuda:99"], "device 'cuda:99'"),
    (["--workdir", "a_file/run"], "'a_file' is a file"),
    (["--workdir", "/proc/aimclr-run"], "folder '/proc/aimclr-run' is not writable"),
    (["--persons", "0"], "--persons: expected an integer >= 1, got '0'"),
    (["--knn-every", "-1"], "--knn-every: expected an integer >= 0, got '-1'"),
    (["--epochs", "-3"], "--epochs: expected an integer >= 1, got '-3'"),
    (["--epochs", "0"], "--epochs: expected an integer >= 1, got '0'"),
    (["--lr", "0"], "--lr: expected a finite number in (0, 3.40282e+38), got '0'"),
    (["--lr", "nan"], "--lr: expected a finite number in (0, 3.40282e+38), got 'nan'"),
    (["--lr", "inf"], "--lr: expected a finite number in (0, 3.40282e+38), got 'inf'"),
    (["--momentum", "1.5"], "--momentum: expected a finite number in [0, 1], got '1.5'"),
    (["--temperature", "0"], "--temperature: expected a finite number in (0, 3.40282e+38)"),
    (["--dropout", "1"], "--dropout: expected a finite number in [0, 1), got '1'"),
    (["--queue-size", "0"], "--queue-size: expected an integer >= 1, got '0'"),
    (["--queue-size", "8"], "--queue-size 8 must hold one global batch (--batch-size 16"),
    (["--mining-epoch", "-1"], "--mining-epoch: expected an integer >= 0, got '-1'"),
    (["--topk", "0"], "--topk: expected an integer >= 1, got '0'"),
    (["--topk", "100"], "--topk 100 must not exceed --queue-size 40"),
    (["--frames", "1"], "--frames: expected an integer >= 2, got '1'"),
    (["--train-samples", "0"], "--train-samples: expected an integer >= 1, got '0'"),
    (["--hidden-dim", "0"], "--hidden-dim: expected an integer >= 1, got '0'"),
    (["--feature-dim", "-3"], "--feature-dim: expected an integer >= 1, got '-3'"),
    (["--aug-codes", "9"], "--aug-codes: codes must be None or distinct digits"),
    (["--aug-codes", "11"], "--aug-codes: codes must be None or distinct digits"),
    (["--stream", "foo"], "--stream: invalid choice: 'foo'"),
    (["--split", "random:1.5"], "the test fraction must be a number in (0, 1), got '1.5'"),
    (["--split", "bogus:1"], "unknown split kind 'bogus'"),
    (["--split", "random:0.2"], "--split applies to .npz data only, not to --data synthetic"),
    (["--test-styles", "x"], "--test-styles applies to .npz data only"),
    (["--layout", "kinect-v1"], "--layout applies to .npz data only"),
    (["--map-to", "nope"], "--map-to: unknown layout 'nope'; built-in layouts"),
    (["--data", "styles.npz", "--split", "random:0.2", "--test-styles", "a"],
     "give --split or --test-styles"),
    (["--data", "styles.npz", "--test-styles", "a,,b"], "--test-styles needs comma-separated"),
    (["--data", "ntu:nowhere", "--synthetic", "shear=0.1"], "--synthetic applies to --data "
     "synthetic only"),
    (["--seed", "-1"], "--seed: expected an integer in [0, 9223372036854775807], got '-1'"),
    (["--workers", "-1"], "--workers: expected an integer >= 0, got '-1'"),
    (["--linear-epochs", "-1"], "--linear-epochs: expected an integer >= 0, got '-1'"),
    (["--data", ""], "--data must be 'synthetic', 'ntu:DIR' or a .npz file, got ''"),
    (["--data", "missing.npz"], "--data missing.npz: no such file"),
    (["--data", "ntu:nowhere"], "--data ntu:nowhere: no folder 'nowhere'"),
    (["--epoch", "3"], "unrecognized arguments: --epoch 3 (--epoch: did you mean --epochs?)"),
    (["--resume", "--overwrite"], "--resume continues the run in --workdir, --overwrite"),
    (["--amp", "fp8"], "--amp: invalid choice: 'fp8'"),
    (["--nonfinite", "zero"], "--nonfinite: invalid choice: 'zero'"),
    (["--compile", "max"], "--compile: invalid choice: 'max'"),
    (["--seed", str(2**64)], "--seed: expected an integer in [0, 9223372036854775807]"),
    (["--threads", "100000"], "--threads: expected an integer in [1, 1024], got '100000'"),
    (["--lr", "1e308"], "--lr: expected a finite number in (0, 3.40282e+38), got '1e308'"),
    (["--temperature", "1e39"], "--temperature: expected a finite number in (0, 3.40282e+38)"),
    (["--workdir", ""], "--workdir: expected a folder name, got ''"),
]
if not torch.cuda.is_available():
    PRETRAIN_CASES.append((["--device", "cuda"], "device 'cuda' needs CUDA"))
    PRETRAIN_CASES.append((["--compile", "reduce-overhead"],
                           "records CUDA graphs, but the model is on cpu"))  # fmt: skip


@pytest.mark.parametrize(("arguments", "message"), PRETRAIN_CASES,
                         ids=[" ".join(case[0]) for case in PRETRAIN_CASES])  # fmt: skip
def test_hostile_pretrain_command_lines(
    examples: dict[str, ModuleType], workspace: Path, capsys: pytest.CaptureFixture[str],
    arguments: list[str], message: str,
) -> None:  # fmt: skip
    code = examples["pretrain"].main([*TINY, "--workdir", "run", *arguments])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err
    assert "Traceback" not in err and "weights_only" not in err
    assert err.splitlines()[-1].startswith(("pretrain.py: error:", "error:"))
    assert not (workspace / "run").exists()  # nothing was created


EVALUATE_CASES = [
    (["missing.pt"], "checkpoint file not found: missing.pt"),
    (["garbage.pt"], "is not a complete checkpoint archive"),
    (["last.pt", "--label-fraction", "0"], "--label-fraction: expected a finite number in (0, 1]"),
    (["last.pt", "--label-fraction", "1.5"], "--label-fraction: expected a finite number"),
    (["last.pt", "--eval-epochs", "0"], "--eval-epochs: expected an integer >= 1, got '0'"),
    (["last.pt", "--eval-batch-size", "-2"], "--eval-batch-size: expected an integer >= 1"),
    (["last.pt", "--protocol", "knn", "--save-scores", "s.pt"], "--save-scores needs a "
     "classifier's logits"),
    (["last.pt", "--save-scores", "a_file/s.pt"], "'a_file' is a file"),
    (["last.pt", "--save-scores", "."], "--save-scores: '.' is a folder; name the file"),
    (["last.pt", "--save-scores", "./last.pt"], "--save-scores last.pt is the checkpoint: "
     "writing the scores would replace it"),
    (["last.pt", "--seed", str(2**63)], "--seed: expected an integer in [0, 9223372036854775807]"),
    (["last.pt", "--threads", "5000"], "--threads: expected an integer in [1, 1024]"),
    (["last.pt", "--protocol", "svm"], "--protocol: invalid choice: 'svm'"),
    (["last.pt", "--eval-epoch", "3"], "evaluate.py: error: unrecognized arguments: "
     "--eval-epoch 3 (--eval-epoch: did you mean --eval-epochs?)"),
    (["last.pt", "--epochs", "3"], "evaluate.py: error: unrecognized arguments: --epochs"),
    (["last.pt", "--device", "meta"], "device 'meta' holds no data"),
    (["last.pt", "--threads", "0"], "--threads: expected an integer in [1, 1024]"),
    (["last.pt", "--synthetic", "foo=1"], "unknown synthetic option 'foo'"),
    (["last.pt", "--reference"], "must hold a {name: tensor} state dict"),
    (["reference.pt"], "is not a checkpoint of examples/pretrain.py"),
    (["last.pt", "--data", "kinect.npz", "--split", "random:0.5"], "was trained on layout "
     "'ntu-rgb+d', but --data kinect.npz has layout 'kinect-v1'"),
]


@pytest.fixture(scope="module")
def trained(examples: dict[str, ModuleType], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("evaluate")
    assert examples["pretrain"].main([*TINY, "--workdir", str(folder / "run")]) == 0
    (folder / "run" / "last.pt").rename(folder / "last.pt")
    (folder / "a_file").write_text("not a folder")
    (folder / "garbage.pt").write_bytes(np.random.default_rng(0).bytes(5000))
    torch.save({"weight": torch.zeros(2)}, folder / "reference.pt")
    layout = np.array("kinect-v1")
    np.savez(folder / "kinect.npz", data=np.zeros((40, 20, 3), np.float32),
             offsets=np.arange(0, 41, 5), labels=np.arange(8) % 2, layout=layout)  # fmt: skip
    return folder


@pytest.fixture()
def checkpoints(trained: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(trained)
    return trained


@pytest.mark.parametrize(("arguments", "message"), EVALUATE_CASES,
                         ids=[" ".join(case[0]) for case in EVALUATE_CASES])  # fmt: skip
def test_hostile_evaluate_command_lines(
    examples: dict[str, ModuleType], checkpoints: Path, capsys: pytest.CaptureFixture[str],
    arguments: list[str], message: str,
) -> None:  # fmt: skip
    capsys.readouterr()
    code = examples["evaluate"].main([*arguments, "--frames", "16", "--train-samples", "48",
                                      "--test-samples", "24", "--eval-epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err
    assert "Traceback" not in err and "weights_only" not in err
    assert not (checkpoints / "s.pt").exists()


@pytest.mark.parametrize(("streams", "message"), [
    ("foo", "--streams: expected distinct names of ('joint', 'bone', 'motion'), got 'foo'"),
    ("", "--streams: expected distinct names"),
    ("joint,joint", "--streams: expected distinct names"),
])  # fmt: skip
def test_hostile_three_streams_command_lines(
    examples: dict[str, ModuleType], workspace: Path, capsys: pytest.CaptureFixture[str],
    streams: str, message: str,
) -> None:  # fmt: skip
    assert examples["three_streams"].main(["--streams", streams, "--workdir", "run"]) == 2
    err = capsys.readouterr().err
    assert message in err and "three_streams.py: error:" in err
    assert examples["three_streams"].main(["--lr-steps", "2,x"]) == 2
    assert "--lr-steps: expected comma-separated integers" in capsys.readouterr().err
    assert not (workspace / "run").exists()


def test_help_shows_every_default_and_every_option_has_help(
    examples: dict[str, ModuleType], capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for name, module in examples.items():
        assert module.main(["--help"]) == 0
        text = capsys.readouterr().out
        assert text.startswith(f"usage: {name}.py")
        options = [line.split()[0] for line in text.splitlines()
                   if line.startswith("  --") and line.split()[0] != "--help"]  # fmt: skip
        assert len(options) > 15, name
        # Every option has help text, and every option with a value shows its default.
        for option in options:
            block = text.split(f"\n  {option}", 1)[1].split("\n  -", 1)[0]
            assert len(block.split()) > 2, (name, option)
            assert "(default:" in block, (name, option)
    assert examples["evaluate"].main(["--help"]) == 0
    help_text = capsys.readouterr().out
    for shared in ("--data", "--split", "--test-styles", "--layout", "--map-to", "--nonfinite",
                   "--synthetic", "--frames", "--persons", "--seed", "--device", "--threads"):
        assert f"  {shared} " in help_text, shared


def test_option_types_refuse_what_they_should() -> None:
    assert cli.int_list()("26, 40") == [26, 40]
    assert cli.number_in(0, 1, high_open=False)("1") == 1.0
    assert cli.layout_name("Kinect_V1") == "kinect-v1"
    with pytest.raises(Exception, match="expected a finite number in \\(0, 1\\)"):
        cli.number_in(0, 1)("1")
    assert cli.changed_options({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}, ["a", "b", "c"]) == [
        "--b 2 -> 3"]  # fmt: skip
