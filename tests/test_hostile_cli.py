"""Hostile command lines found by a fault-injection run: each gets one ``error:`` line.

Sizes the machine cannot allocate, a folder where a file is named, a run in the way of
``three_streams.py``, ``minimal.py``'s unchecked options, and ``prepare`` failing on
the file system; none may end in a traceback or leave a half-written file.
"""

from __future__ import annotations

import errno
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import aimclr.data.prepare.writer as writer
from aimclr.data.prepare.__main__ import main as prepare_main
from aimclr.data.prepare.generate import write_ntu_folder
from aimclr.training import cli
from tests.test_trainer_cli import TINY, load


@pytest.fixture(scope="module")
def examples() -> dict[str, ModuleType]:
    return {name: load(name) for name in ("pretrain", "minimal", "three_streams")}


def _raise(error: BaseException) -> Any:
    def run(_: object) -> None:
        raise error

    return run


@pytest.mark.parametrize("error", [
    MemoryError(),
    RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't "
                 "allocate memory: you tried to allocate 3600000000000000 bytes. Error code 12"),
])  # fmt: skip
def test_memory_that_cannot_be_allocated_is_one_error_line(
    error: BaseException, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.run_command(lambda argv: None, _raise(error), []) == 1  # type: ignore[arg-type,return-value]
    err = capsys.readouterr().err
    assert err.startswith("error: out of memory") and "choose smaller ones" in err
    assert "tried to allocate 3600000000000000 bytes" in err or isinstance(error, MemoryError)


def test_other_runtime_errors_keep_their_traceback() -> None:
    with pytest.raises(RuntimeError, match="a bug"):
        cli.run_command(lambda argv: None, _raise(RuntimeError("a bug")), [])  # type: ignore[arg-type,return-value]


def test_sizes_too_large_for_the_machine_exit_1_without_a_run(
    examples: dict[str, ModuleType], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = examples["pretrain"].main([*TINY, "--train-samples", "99999999999",
                                      "--workdir", str(tmp_path / "run")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1, err
    assert "error: out of memory (allocate" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "last.pt").exists()


@pytest.mark.parametrize(("arguments", "message"), [
    (["--epochs", "0"], "--epochs: expected an integer >= 1, got '0'"),
    (["--batch-size", "0"], "--batch-size: expected an integer >= 1, got '0'"),
    (["--seed", "-1"], "--seed: expected an integer in [0, 9223372036854775807], got '-1'"),
    (["--mining-epoch", "-5"], "--mining-epoch: expected an integer >= 0, got '-5'"),
    (["--test-samples", "0"], "--test-samples: expected an integer >= 1, got '0'"),
    (["--batch-size", "100"], "--batch-size 100 exceeds --train-samples 40"),
    (["--queue-size", "7"], "--queue-size 7 must hold one batch (--batch-size 32)"),
])  # fmt: skip
def test_minimal_refuses_options_that_would_train_nothing_or_crash(
    examples: dict[str, ModuleType], capsys: pytest.CaptureFixture[str],
    arguments: list[str], message: str,
) -> None:  # fmt: skip
    with pytest.raises(SystemExit) as stopped:
        examples["minimal"].parse_args(["--train-samples", "40", *arguments])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_three_streams_keeps_a_previous_run_unless_overwrite(
    examples: dict[str, ModuleType], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    (run / "motion").mkdir(parents=True)
    (run / "results.json").write_text("{}")
    (run / "motion" / "last.pt").write_bytes(b"earlier run")
    options = [*TINY[:16], "--threads", "1", "--quiet", "--epochs", "1", "--linear-epochs", "1",
               "--streams", "joint", "--workdir", str(run)]  # fmt: skip
    assert examples["three_streams"].main(options) == 2
    err = capsys.readouterr().err
    assert "holds a run (results.json, motion/last.pt); pass --overwrite" in err
    assert (run / "results.json").read_text() == "{}"
    assert (run / "motion" / "last.pt").read_bytes() == b"earlier run"
    assert examples["three_streams"].main([*options, "--overwrite"]) == 0
    assert not (run / "motion" / "last.pt").exists()  # the stale stream is gone
    assert (run / "joint" / "last.pt").is_file() and (run / "results.json").read_text() != "{}"


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("raw")
    write_ntu_folder(folder, 6, seed=0, frames=(5, 10))
    return folder


def test_prepare_refuses_a_file_as_output_and_empty_folder_names(
    raw: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a_file").write_text("kept")
    assert prepare_main(["ntu60", str(raw), str(tmp_path / "a_file"), "--workers", "1"]) == 2
    assert "output folder" in capsys.readouterr().err
    assert prepare_main(["ntu60", str(raw), str(tmp_path / "a_file" / "out")]) == 2
    assert f"{str(tmp_path / 'a_file')!r} is a file" in capsys.readouterr().err
    assert (tmp_path / "a_file").read_text() == "kept"
    with pytest.raises(SystemExit) as stopped:
        prepare_main(["ntu60", str(raw), ""])
    assert stopped.value.code == 2
    assert "argument OUT: expected a folder, got ''" in capsys.readouterr().err


def test_prepare_failing_on_the_file_system_is_one_error_line_and_leaves_nothing(
    raw: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    reserve = writer.open_memmap

    def disk_full(path: Path, **kwargs: Any) -> np.memmap:
        if Path(path).name.startswith("train_position"):  # after train_data.npy exists
            Path(path).write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return reserve(path, **kwargs)

    monkeypatch.setattr(writer, "open_memmap", disk_full)
    out = tmp_path / "out"
    assert prepare_main(["ntu60", str(raw), str(out), "--workers", "1", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: writing under {str(out)!r}: [Errno 28] No space left")
    assert [p for p in out.rglob("*") if p.is_file()] == []  # no partial, no final file


def test_prepare_refuses_to_write_no_sample_or_into_the_raw_folder(
    raw: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ignore = tmp_path / "ignore.txt"
    ignore.write_text("\n".join(p.stem for p in raw.iterdir()) + "\n")
    out = tmp_path / "out"
    assert prepare_main(["ntu60", str(raw), str(out), "--workers", "1", "--quiet",
                         "--ignore", str(ignore)]) == 2  # fmt: skip
    assert "error: no sample to write: 6 left out by the ignore list" in capsys.readouterr().err
    assert [p for p in out.rglob("*") if p.is_file()] == []  # no empty arrays that load
    before = sorted(p.name for p in raw.iterdir())
    assert prepare_main(["ntu60", str(raw), str(raw), "--workers", "1", "--quiet"]) == 2
    assert "is the raw folder" in capsys.readouterr().err
    assert sorted(p.name for p in raw.iterdir()) == before


def test_resuming_a_run_past_epochs_is_refused_and_changes_nothing(
    examples: dict[str, ModuleType], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert examples["pretrain"].main([*TINY, "--epochs", "2", "--workdir", str(run)]) == 0
    files = {p.name: p.read_bytes() for p in run.iterdir()}
    capsys.readouterr()
    assert examples["pretrain"].main([*TINY, "--epochs", "1", "--workdir", str(run),
                                      "--resume"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "is the state after epoch 2, past --epochs 1; pass --epochs 2 or more" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == files
