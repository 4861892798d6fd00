"""Faults: damaged checkpoints, kills at every step of an epoch's commit, stale temporaries."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from script_loading import load_example
from torch import nn

import aimclr.training.checkpoints as checkpoints
import aimclr.viz.canvas
from aimclr import AimCLRError
from aimclr.checkpoint import load_state_dict_file
from aimclr.training import RunLog, TrainingState, load_checkpoint, save_checkpoint
from aimclr.training.checkpoints import remove_stale_temporaries

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "--train-samples", "48", "--test-samples", "24", "--frames", "16", "--batch-size", "16",
    "--hidden-channels", "2", "--hidden-dim", "8", "--feature-dim", "8", "--queue-size", "40",
    "--mining-epoch", "1", "--knn-every", "1", "--linear-epochs", "0", "--threads", "1",
    "--quiet",
]  # fmt: skip


def load_pretrain() -> ModuleType:
    return load_example("pretrain", "aimclr_faults")


@pytest.fixture(scope="module")
def pretrain() -> ModuleType:
    return load_pretrain()


@pytest.fixture(autouse=True)
def _no_pictures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drawing is tested elsewhere; here it would only cost time (as without the extra)."""
    monkeypatch.setattr(aimclr.viz.canvas, "available", lambda: False)


@pytest.fixture(scope="module")
def one_epoch(pretrain: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a finished one-epoch run (copied by each test that changes it)."""
    folder = tmp_path_factory.mktemp("one_epoch") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aimclr.viz.canvas, "available", lambda: False)
        assert pretrain.main([*TINY, "--epochs", "1", "--knn-every", "0",
                              "--workdir", str(folder)]) == 0  # fmt: skip
    return folder


@pytest.fixture()
def run_copy(one_epoch: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(one_epoch, tmp_path / "run"))


# ---------------------------------------------------------------- damaged checkpoint files


def _state() -> dict[str, Any]:
    return {"epoch": 3, "weights": torch.arange(4096, dtype=torch.float32), "name": "run"}


def test_flipped_bytes_are_caught_where_torch_load_would_read_other_numbers(
    tmp_path: Path,
) -> None:  # fmt: skip
    path = save_checkpoint(_state(), tmp_path / "last.pt")
    data = bytearray(path.read_bytes())
    middle = data.index(b"\x00\x00\x80\x3f")  # the float 1.0 inside the weights
    data[middle + 3] ^= 0x40  # one bit of the exponent
    path.write_bytes(bytes(data))
    silently = torch.load(path, weights_only=True)["weights"]  # what torch alone gives
    assert not torch.equal(silently, _state()["weights"])
    with pytest.raises(AimCLRError, match=r"last.pt' is damaged: the entry '.*data/0' does not "
                                          r"match the CRC-32"):  # fmt: skip
        load_checkpoint(path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[: len(b) // 2], "is not a complete checkpoint archive"),
        (lambda b: b[:-30], "is not a complete checkpoint archive"),
        (lambda b: b"", "is empty (0 bytes)"),
        (lambda b: bytes(random.Random(0).getrandbits(8) for _ in range(3000)),
         "is not a complete checkpoint archive"),
        (lambda b: pickle.dumps({"epoch": 1}), "is not a complete checkpoint archive"),
    ],
    ids=["half", "tail cut", "empty", "garbage", "plain pickle"],
)
def test_truncated_empty_or_garbage_checkpoints_are_clear_errors(
    tmp_path: Path, damage: Callable[[bytes], bytes], message: str,
) -> None:  # fmt: skip
    path = save_checkpoint(_state(), tmp_path / "last.pt")
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(AimCLRError, match=re.escape(message)) as caught:
        load_checkpoint(path)
    assert str(path) in str(caught.value) and "weights_only" not in str(caught.value)


def test_objects_other_than_plain_data_are_refused_without_unsafe_advice(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    torch.save({"args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(pickle.UnpicklingError, match="weights_only"):
        torch.load(path, weights_only=True)  # torch's own message advises weights_only=False
    for load in (load_checkpoint, load_state_dict_file):
        with pytest.raises(AimCLRError, match=r"holds objects other than plain data \(e.g. "
                                              r"argparse.Namespace\)") as caught:  # fmt: skip
            load(path)
        assert "weights_only" not in str(caught.value) and str(path) in str(caught.value)


def test_legacy_format_reference_files_still_load(tmp_path: Path) -> None:
    path = tmp_path / "reference.pt"
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=False)
    assert torch.equal(load_state_dict_file(path)["w"], torch.ones(2))
    with pytest.raises(AimCLRError, match="not a complete checkpoint archive"):
        load_checkpoint(path)  # the library's own checkpoints are always checked archives


def test_crcs_are_written_whatever_torch_is_configured_to_do(tmp_path: Path) -> None:
    config = torch.utils.serialization.config.save
    before = config.compute_crc32
    config.compute_crc32 = False
    try:
        path = save_checkpoint(_state(), tmp_path / "last.pt")
    finally:
        config.compute_crc32 = before
    assert config.compute_crc32 == before
    data = bytearray(path.read_bytes())
    data[data.index(b"\x00\x00\x80\x3f") + 3] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(AimCLRError, match="is damaged"):
        load_checkpoint(path)


# ------------------------------------------------------------------ stale temporaries


def _temporary(path: Path, host: str, pid: int) -> Path:
    temporary = path.parent / f".{path.name}.{host}.{pid}.{'ab' * 8}.tmp"
    temporary.write_bytes(b"partial")
    return temporary


def test_stale_temporaries_of_dead_writers_are_removed_and_no_others(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
    host = checkpoints._host_tag()
    dead = _temporary(path, host, int(finished.stdout))
    own = _temporary(path, host, os.getpid())  # this process, not writing it now
    live = _temporary(path, host, os.getppid())
    other_host = _temporary(path, "0badc0de" if host != "0badc0de" else "0badc0df", 1)
    old_style = tmp_path / ".last.pt.0123456789abcdef.tmp"
    old_style.write_bytes(b"partial")
    other_target = _temporary(tmp_path / "best.pt", host, int(finished.stdout))
    save_checkpoint({"epoch": 1}, path)
    left = {p.name for p in tmp_path.iterdir()}
    assert dead.name not in left and own.name not in left
    assert {live.name, other_host.name, old_style.name, other_target.name, "last.pt"} == left
    assert remove_stale_temporaries(tmp_path / "best.pt") == [other_target]
    _temporary(path, host, int(finished.stdout))
    assert load_checkpoint(path)["epoch"] == 1
    assert {p.name for p in tmp_path.iterdir()} == {live.name, other_host.name, old_style.name,
                                                   "last.pt"}  # fmt: skip
    assert socket.gethostname()  # the tag hashes the host name


def test_a_temporary_being_written_by_this_process_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "last.pt"
    seen: list[list[Path]] = []
    original = torch.save

    def save(obj: Any, file: Any, *args: Any, **kwargs: Any) -> None:  # mid-write: clean up
        seen.append(remove_stale_temporaries(path))
        original(obj, file, *args, **kwargs)

    monkeypatch.setattr(checkpoints.torch, "save", save)
    save_checkpoint({"epoch": 7}, path)
    assert seen == [[]]  # its own temporary was not taken for a stale one
    assert load_checkpoint(path)["epoch"] == 7


# ---------------------------------------------------------- kills during an epoch's commit


class Killed(BaseException):
    """Stands for SIGKILL: nothing catches it (run_command only catches Exception kinds)."""


def _record(epoch: int) -> dict[str, Any]:
    knn = [0.2, 0.5, 0.4, 0.6][epoch - 1]
    return {"epoch": epoch, "lr": 0.1, "loss": 5.0 - epoch, "seconds": 1.0,
            "samples_per_s": 10.0, "knn1": knn}  # fmt: skip


def _fresh_state(seed: int = 0) -> TrainingState:
    torch.manual_seed(seed)
    model = nn.Linear(3, 2)
    return TrainingState(model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))


def _train_a_step(state: TrainingState, epoch: int) -> None:
    torch.manual_seed(100 + epoch)
    loss = state.model(torch.randn(4, 3)).square().sum()
    state.optimizer.zero_grad()
    loss.backward()
    state.optimizer.step()
    state.epoch = epoch


@contextlib.contextmanager
def _kill_at(point: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Raise Killed at ``point`` of the next commit_epoch."""
    with monkeypatch.context() as patch:
        if point.startswith(("save ", "replace ")):  # e.g. "save best.pt", "replace last.pt"
            kind, name = point.split()
            original_save, original_replace = torch.save, os.replace

            def save(obj: Any, file: Any, *args: Any, **kwargs: Any) -> None:
                if kind == "save" and f".{name}." in str(getattr(file, "name", "")):
                    file.write(b"PK\x03\x04 torn")
                    raise Killed
                original_save(obj, file, *args, **kwargs)

            def replace(source: Any, target: Any) -> None:
                original_replace(source, target)
                if kind == "replace" and Path(target).name == name:
                    raise Killed  # right after the rename

            patch.setattr(checkpoints.torch, "save", save)
            patch.setattr(checkpoints.os, "replace", replace)
        elif point == "log line":
            def torn_line(self: RunLog, record: Any, epochs: int) -> None:
                with open(self.metrics_path, "a", encoding="utf-8") as file:
                    file.write(json.dumps(record)[:10])  # half a line reaches the disk
                raise Killed

            patch.setattr(RunLog, "epoch", torn_line)
        elif point == "curves":
            def curves(self: RunLog) -> None:
                raise Killed

            patch.setattr(RunLog, "curves", curves)
        yield


KILL_POINTS = ["save best.pt", "replace best.pt", "save last.pt", "replace last.pt",
               "log line", "curves"]  # fmt: skip


@pytest.mark.parametrize("point", KILL_POINTS)
def test_log_and_checkpoints_agree_after_a_kill_at_any_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    """A kill during epoch 2's commit, then a resume: the files agree with a clean run."""
    straight = RunLog(tmp_path / "straight", quiet=True)
    state = _fresh_state()
    for epoch in (1, 2, 3, 4):
        _train_a_step(state, epoch)
        straight.commit_epoch(state, _record(epoch), 4, best_key="knn1")

    log = RunLog(tmp_path / "killed", quiet=True)
    state = _fresh_state()
    _train_a_step(state, 1)
    log.commit_epoch(state, _record(1), 4, best_key="knn1")
    _train_a_step(state, 2)
    with _kill_at(point, monkeypatch), pytest.raises(Killed):
        log.commit_epoch(state, _record(2), 4, best_key="knn1")

    # A new process: resume from last.pt, redo what it lacks.
    log = RunLog(tmp_path / "killed", quiet=True)
    state = _fresh_state(seed=1)  # other initial weights: everything must come from the file
    log.resume(state)
    assert [json.loads(line) for line in log.metrics_path.read_text().splitlines()] == (
        state.records)  # the log agrees with the checkpoint at once
    assert state.epoch == (2 if point in ("replace last.pt", "log line", "curves") else 1)
    scores = [record["knn1"] for record in state.records]  # best.pt is never behind them
    assert load_checkpoint(log.best_path)["epoch"] >= 1 + scores.index(max(scores))
    torch.manual_seed(0)
    for epoch in range(state.epoch + 1, 5):
        _train_a_step(state, epoch)
        log.commit_epoch(state, _record(epoch), 4, best_key="knn1")

    assert log.metrics_path.read_text() == straight.metrics_path.read_text()
    for name in ("last.pt", "best.pt"):
        want, got = (load_checkpoint(folder / name) for folder in (straight.folder, log.folder))
        assert got["epoch"] == want["epoch"] and got["records"] == want["records"], name
        for key, tensor in want["model"].items():
            assert torch.equal(got["model"][key], tensor), (name, key)
    assert load_checkpoint(log.best_path)["epoch"] == 4  # knn1 0.6 at epoch 4
    assert not [p for p in log.folder.iterdir() if p.name.endswith(".tmp")]


def test_the_trainer_restores_the_log_line_a_kill_after_the_rename_lost(
    pretrain: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The issue's fault: a kill right after last.pt's rename lost that epoch's line."""
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert pretrain.main([*TINY, "--epochs", "3", "--workdir", str(straight)]) == 0
    calls = {"n": 0}
    original = os.replace

    def replace(source: Any, target: Any) -> None:
        original(source, target)
        if Path(target).name == "last.pt":
            calls["n"] += 1
            if calls["n"] == 2:
                raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(checkpoints.os, "replace", replace)
        with pytest.raises(Killed):
            pretrain.main([*TINY, "--epochs", "3", "--workdir", str(killed)])
    assert len(killed.joinpath("metrics.jsonl").read_text().splitlines()) == 1  # epoch 2 lost
    assert pretrain.main([*TINY, "--epochs", "3", "--workdir", str(killed), "--resume"]) == 0

    def lines(folder: Path) -> list[dict[str, Any]]:
        text = (folder / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(line).items() if k not in ("seconds",
                 "samples_per_s")} for line in text]  # fmt: skip

    assert lines(killed) == lines(straight)
    assert [r["epoch"] for r in lines(killed)] == [1, 2, 3]


# ---------------------------------------------------- damaged or foreign last.pt on resume


def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("rng"), "needs the keys ['model', 'optimizer', 'epoch', 'rng'], "
                                 "missing ['rng']"),
        (lambda s: s.pop("args"), "has no 'args' entry"),
        (lambda s: s.pop("model"), "missing ['model']"),
        (lambda s: s.update(epoch=-1), "the saved epoch must be an int >= 0, got -1"),
        (lambda s: s["rng"].pop("torch"), "the saved RNG state lacks the entries ['torch']"),
        (lambda s: s["rng"].update(numpy_keys=torch.zeros(3)), "RNG entry 'numpy_keys'"),
        (lambda s: s.update(optimizer={"lr": 1}), "the saved optimiser must be an optimiser "
                                                  "state dict"),
        (lambda s: s.update(records=[{"epoch": 5}]), "the saved records must have ascending "
                                                     "epochs in [1, 1]"),
        (lambda s: s["model"].pop("queue.keys"), "the saved model does not fit this model"),
    ],
    ids=["no rng", "no args", "no model", "bad epoch", "rng without torch", "bad numpy rng",
         "bad optimiser", "records ahead", "model without queue"],
)
def test_a_checkpoint_missing_an_entry_is_refused_and_kept(
    pretrain: ModuleType, run_copy: Path, capsys: pytest.CaptureFixture[str],
    change: Callable[[dict[str, Any]], None], message: str,
) -> None:  # fmt: skip
    tmp_path = run_copy
    path = tmp_path / "last.pt"
    _edit(path, change)
    before, log = path.read_bytes(), (tmp_path / "metrics.jsonl").read_bytes()
    capsys.readouterr()
    assert pretrain.main([*TINY, "--epochs", "2", "--workdir", str(tmp_path), "--resume"]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err, err
    assert "Traceback" not in err and "weights_only" not in err
    assert path.read_bytes() == before and (tmp_path / "metrics.jsonl").read_bytes() == log


def test_a_damaged_last_pt_is_never_overwritten(
    pretrain: ModuleType, run_copy: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    tmp_path = run_copy
    path = tmp_path / "last.pt"
    path.write_bytes(path.read_bytes()[:1000])
    damaged = path.read_bytes()
    capsys.readouterr()
    assert pretrain.main([*TINY, "--epochs", "2", "--workdir", str(tmp_path), "--resume"]) == 2
    assert "is not a complete checkpoint archive" in capsys.readouterr().err
    # A fresh run into the same folder is refused too; only --overwrite replaces the run.
    assert pretrain.main([*TINY, "--epochs", "1", "--workdir", str(tmp_path)]) == 2
    assert "holds a run (last.pt, metrics.jsonl" in capsys.readouterr().err
    assert path.read_bytes() == damaged
    assert pretrain.main([*TINY, "--epochs", "1", "--workdir", str(tmp_path), "--overwrite",
                          "--knn-every", "0"]) == 0  # fmt: skip
    assert load_checkpoint(path)["epoch"] == 1


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        (["--mining-epoch", "2"], "--mining-epoch 1 -> 2"),
        (["--momentum", "0.9"], "--momentum 0.99 -> 0.9"),
        (["--batch-size", "8"], "--batch-size 16 -> 8"),
        (["--topk", "2"], "--topk 1 -> 2"),
        (["--train-samples", "32"], "--train-samples 48 -> 32"),
        (["--synthetic", "shear=0.1"], "--synthetic [] -> ['shear=0.1']"),
    ],
)
def test_changing_a_run_defining_option_on_resume_is_refused(
    pretrain: ModuleType, run_copy: Path, capsys: pytest.CaptureFixture[str],
    changed: list[str], message: str,
) -> None:  # fmt: skip
    before = (run_copy / "last.pt").read_bytes()
    code = pretrain.main([*TINY, "--epochs", "2", "--workdir", str(run_copy), "--resume",
                          *changed])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert (run_copy / "last.pt").read_bytes() == before


def test_schedule_changes_resume_with_a_note(
    pretrain: ModuleType, run_copy: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    tmp_path = run_copy
    capsys.readouterr()
    assert pretrain.main([*TINY, "--epochs", "2", "--knn-every", "0", "--lr", "0.01",
                          "--workdir", str(tmp_path), "--resume"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "resumed from" in out and "with --epochs 1 -> 2; with --lr 0.05 -> 0.01" in out


# ------------------------------------------------------------------ real kill -9


@pytest.mark.slow
def test_kill_minus_nine_at_random_moments_then_resume(tmp_path: Path) -> None:
    """SIGKILL the trainer at random moments, resume each time: the same files as one run."""
    command = [sys.executable, str(ROOT / "examples" / "pretrain.py"), *TINY, "--epochs", "6"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    subprocess.run([*command, "--workdir", str(tmp_path / "straight")], env=env, check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    workdir = tmp_path / "killed"
    rng = random.Random(14)
    epochs_seen = []
    for _ in range(5):  # five kills at random moments (imports take the first 2-3 s)
        resume = ["--resume"] if (workdir / "last.pt").exists() else []
        process = subprocess.Popen([*command, "--workdir", str(workdir), *resume], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(2.5, 5.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
        if (workdir / "last.pt").exists():  # never torn, and its records match its epoch
            saved = load_checkpoint(workdir / "last.pt")
            assert [r["epoch"] for r in saved["records"]] == list(range(1, saved["epoch"] + 1))
            epochs_seen.append(saved["epoch"])
    assert epochs_seen, "no kill came after an epoch: the run was too slow to test"
    resume = ["--resume"] if (workdir / "last.pt").exists() else []
    subprocess.run([*command, "--workdir", str(workdir), *resume], env=env, check=True,
                   capture_output=True, timeout=300)  # fmt: skip

    def strip(folder: Path) -> list[dict[str, Any]]:
        return [{k: v for k, v in json.loads(line).items() if k not in ("seconds",
                 "samples_per_s")} for line in (folder / "metrics.jsonl").read_text().splitlines()]

    assert strip(workdir) == strip(tmp_path / "straight")
    want, got = (load_checkpoint(folder / "last.pt") for folder in (tmp_path / "straight", workdir))
    for key, tensor in want["model"].items():
        assert torch.equal(got["model"][key], tensor), key
    assert not [p for p in workdir.iterdir() if p.name.endswith(".tmp")]
