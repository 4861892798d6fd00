"""The trainer on recordings of another layout and size; small-data reports, best.pt, pictures."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from script_loading import load_example

import aimclr.viz.canvas
from aimclr import STGCN, AimCLRWarning, SmallDataWarning
from aimclr.data import (
    RaggedSkeletons,
    load_npz,
    make_synthetic_actions,
    open_dataset,
    parse_split,
)
from aimclr.graph import KINECT_V1
from aimclr.training import KNNMonitor, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
BANDAI = ROOT / ".." / "shared" / "data" / "bandai2.npz"
TINY = [
    "--frames", "16", "--batch-size", "16", "--hidden-channels", "2", "--hidden-dim", "8",
    "--feature-dim", "8", "--queue-size", "32", "--mining-epoch", "1", "--linear-epochs", "0",
    "--threads", "1", "--quiet",
]  # fmt: skip


def load(name: str) -> ModuleType:
    return load_example(name, "aimclr_data")


@pytest.fixture(scope="module")
def pretrain() -> ModuleType:
    return load("pretrain")


@pytest.fixture()
def no_pictures(monkeypatch: pytest.MonkeyPatch) -> None:
    """As without the viz extra (drawing costs time and is tested on its own below)."""
    monkeypatch.setattr(aimclr.viz.canvas, "available", lambda: False)


@pytest.fixture(scope="module")
def kinect_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20-joint Kinect v1 recording: 48 clips of 12 actions by 6 subjects."""
    x, labels = make_synthetic_actions(48, seed=0, num_frames=40, center=False)
    lengths = np.random.default_rng(0).integers(20, 41, size=48)
    clips = [x[i, :, : lengths[i], :, 0].numpy().transpose(1, 2, 0) for i in range(48)]
    v1 = RaggedSkeletons.from_sequences(clips, labels.numpy()).to_layout("kinect-v1")
    path = tmp_path_factory.mktemp("kinect") / "kinect.npz"
    np.savez(path, data=v1.data.astype(np.float16), offsets=v1.offsets, labels=v1.labels,
             class_names=np.array([f"action{i}" for i in range(12)]),
             layout=np.array("kinect-v1"), joint_names=np.array(KINECT_V1.joint_names),
             subjects=np.arange(48) % 6 + 1)  # fmt: skip
    return path


def test_kinect_v1_recordings_train_on_their_own_layout_end_to_end(
    pretrain: ModuleType, kinect_file: Path, tmp_path: Path, no_pictures: None,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    built: list[Any] = []
    original = pretrain.PretrainViews

    def spy(*args: Any, **kwargs: Any) -> Any:
        built.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(pretrain, "PretrainViews", spy)
    data = ["--data", str(kinect_file), "--split", "subject:5,6", "--stream", "bone"]
    run = tmp_path / "v1"
    assert pretrain.main([*TINY, *data, "--epochs", "2", "--knn-every", "1",
                          "--workdir", str(run)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "32 train / 16 test samples, 12 classes, layout kinect-v1" in out
    assert built[0][-1] is KINECT_V1  # the views flip the file's own left/right pairs
    saved = load_checkpoint(run / "last.pt")
    assert saved["data"]["layout"] == "kinect-v1" and saved["epoch"] == 2
    assert saved["model"]["encoder_q.A"].shape[-1] == 20  # the encoder's graph has V = 20
    assert torch.equal(saved["model"]["encoder_q.A"], STGCN(KINECT_V1).A)
    # evaluate.py takes last.pt or best.pt and the same data options.
    evaluate = load("evaluate")
    for name in ("last.pt", "best.pt"):
        result = evaluate.evaluate([str(run / name), "--protocol", "knn", *data,
                                    "--frames", "16", "--threads", "1"])  # fmt: skip
        assert result["stream"] == "bone" and 0.0 <= result["knn1"] <= 1.0
    # Mapped to NTU RGB+D on request: 25 joints.
    mapped = tmp_path / "mapped"
    assert pretrain.main([*TINY, *data, "--map-to", "ntu-rgb+d", "--epochs", "1",
                          "--knn-every", "0", "--workdir", str(mapped)]) == 0  # fmt: skip
    assert load_checkpoint(mapped / "last.pt")["model"]["encoder_q.A"].shape[-1] == 25


def test_a_file_without_a_layout_needs_one(
    pretrain: ModuleType, kinect_file: Path, tmp_path: Path, no_pictures: None,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    content = dict(np.load(kinect_file))
    del content["layout"], content["joint_names"]
    bare = tmp_path / "bare.npz"
    np.savez(bare, **content)
    common = [*TINY, "--data", str(bare), "--split", "random:0.25", "--epochs", "1",
              "--knn-every", "0"]  # fmt: skip
    assert pretrain.main([*common, "--workdir", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "these 20-joint sequences have no layout" in err and "Traceback" not in err
    assert pretrain.main([*common, "--layout", "kinect-v1", "--workdir", str(tmp_path / "b")]) == 0


def test_nan_frames_are_refused_or_dropped_as_asked(
    pretrain: ModuleType, kinect_file: Path, tmp_path: Path, no_pictures: None,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    content = dict(np.load(kinect_file))
    content["data"] = content["data"].copy()
    content["data"][content["offsets"][3] + 2, 5, 1] = np.nan  # one frame of sequence 3
    path = tmp_path / "nan.npz"
    np.savez(path, **content)
    common = [*TINY, "--data", str(path), "--split", "subject:5,6", "--epochs", "1",
              "--knn-every", "0"]  # fmt: skip
    assert pretrain.main([*common, "--workdir", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "sequence 3" in err and "(on the command line: --nonfinite drop)" in err, err
    assert not (tmp_path / "a").exists()
    with pytest.warns(AimCLRWarning, match="these 1 sequences are left out"):
        assert pretrain.main([*common, "--nonfinite", "drop",
                              "--workdir", str(tmp_path / "b")]) == 0  # fmt: skip
    assert "31 train / 16 test samples" in capsys.readouterr().out


def test_an_npz_file_needs_a_split_and_the_message_lists_the_choices(
    pretrain: ModuleType, kinect_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert pretrain.main([*TINY, "--data", str(kinect_file), "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "kinect.npz: choose how to split it into training and test sequences" in err
    assert "subject:ID[,ID...] with the subjects [1, 2, 3, 4, 5, 6]" in err
    assert "random:FRACTION" in err and "file:PATH" in err and "Traceback" not in err


@pytest.mark.skipif(not BANDAI.is_file(), reason="../shared/data/bandai2.npz is absent")
def test_bandai_recordings_with_a_subject_less_random_split(
    pretrain: ModuleType, tmp_path: Path, no_pictures: None, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    arguments = [*TINY, "--data", str(BANDAI), "--split", "random:0.2", "--frames", "8",
                 "--batch-size", "256", "--queue-size", "256", "--epochs", "1",
                 "--knn-every", "0"]  # fmt: skip
    assert pretrain.main([*arguments, "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    train, test = parse_split("random:0.2").split(load_npz(BANDAI))  # seeded by --seed 0
    assert f"{len(train)} train / {len(test)} test samples, 10 classes" in out
    assert len(test) == pytest.approx(0.2 * 2902, abs=10)
    assert load_checkpoint(tmp_path / "last.pt")["data"]["train"] == len(train)


def test_small_data_is_reported_once_per_run_and_best_pt_follows_the_monitor(
    pretrain: ModuleType, tmp_path: Path, no_pictures: None,
) -> None:  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert pretrain.main([*TINY, "--train-samples", "48", "--test-samples", "24",
                              "--queue-size", "64", "--epochs", "3", "--knn-every", "1",
                              "--workdir", str(tmp_path)]) == 0  # fmt: skip
    small = [str(w.message) for w in caught if issubclass(w.category, SmallDataWarning)]
    assert len([m for m in small if m.startswith("kNN k = 200 exceeds the N = 48")]) == 1, small
    assert len([m for m in small if m.startswith("the queue holds K = 64 keys")]) == 1, small
    assert len(small) == 2, small  # 3 monitor calls + 2 final ones, reported once
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    scores = [line["knn1"] for line in lines]
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["epoch"] == 1 + scores.index(max(scores))
    assert best["records"] == lines[: best["epoch"]]


def test_the_monitor_warns_once_and_predicts() -> None:
    data = open_dataset("synthetic", num_frames=8, train_samples=24, test_samples=12)
    monitor = KNNMonitor(data.train, data.test, data.num_classes, ks=(200, 1))
    encoder = torch.nn.Flatten()
    with pytest.warns(SmallDataWarning, match="kNN k = 200 exceeds the N = 24"):
        first = monitor(encoder)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert monitor(encoder) == first  # no second warning
        predictions, labels = monitor.predict(encoder)
    assert monitor.best_key == "knn1"
    assert float((predictions == labels).float().mean()) == pytest.approx(first["knn1"])


def test_the_trainer_draws_curves_and_a_confusion_matrix_where_matplotlib_is(
    pretrain: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    pytest.importorskip("matplotlib")
    from aimclr.viz import save_confusion_matrix, save_training_curves

    args = [*TINY, "--train-samples", "48", "--test-samples", "24", "--epochs", "2",
            "--knn-every", "0", "--workdir", str(tmp_path / "run")]  # fmt: skip
    assert pretrain.main(args) == 0
    assert "curves.png, confusion.png in" in capsys.readouterr().out
    run = tmp_path / "run"
    # The pictures are pure functions of their inputs: redraw them and compare the bytes.
    expected = save_training_curves(run / "metrics.jsonl", tmp_path / "curves.png")
    assert (run / "curves.png").read_bytes() == expected.read_bytes()
    model = load("pretrain").c.build_model(pretrain.parse_args(args))  # the checkpoint's model
    model.load_state_dict(load_checkpoint(run / "last.pt")["model"])
    data = open_dataset("synthetic", num_frames=16, train_samples=48, test_samples=24)
    monitor = KNNMonitor(data.train, data.test, data.num_classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallDataWarning)
        predictions, labels = monitor.predict(model.encoder_q)
    expected = save_confusion_matrix(predictions, labels, tmp_path / "confusion.png",
                                     list(data.class_names), title="aimclr, kNN-1")
    assert (run / "confusion.png").read_bytes() == expected.read_bytes()


def test_without_the_viz_extra_the_pictures_are_only_skipped(
    pretrain: ModuleType, tmp_path: Path, no_pictures: None,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert pretrain.main([*TINY, "--train-samples", "48", "--test-samples", "24", "--epochs",
                          "1", "--knn-every", "1", "--workdir", str(tmp_path)]) == 0
    assert "wrote last.pt, best.pt, metrics.jsonl, results.json in" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt",
                                                          "metrics.jsonl", "results.json"]
