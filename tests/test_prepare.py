"""``aimclr.data.prepare``: raw folders to the reference arrays, splits, bad input, safety.

Raw files are written here in the published layouts (no real data).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from script_loading import load_example

import aimclr.data.prepare.convert as convert
from aimclr.data import SkeletonNpyDataset, preprocess_sample, resize_sequence, valid_length
from aimclr.data.prepare import (
    PkuLayout,
    RawDataError,
    output_files,
    prepare,
    read_ntu_skeleton,
    reference_arrays,
)
from aimclr.data.prepare.__main__ import main
from aimclr.data.prepare.generate import (
    format_ntu_skeleton,
    format_pku_frames,
    write_ntu_folder,
    write_pku_folder,
)
from aimclr.data.prepare.writer import NpyWriter
from aimclr.errors import AimCLRError

ROOT = Path(__file__).resolve().parents[1]


def write_ntu(folder: Path, name: str, frames: int, seed: int, two: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    bodies = [[rng.normal(size=(25, 3)) for _ in range(2 if two and t % 3 else 1)]
              for t in range(frames)]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.skeleton"
    path.write_text(format_ntu_skeleton(bodies))
    return path


def expected_full(path: Path) -> np.ndarray:
    """The reference 300-frame sample: the reader's frames, cut to 300, zero-padded."""
    data = read_ntu_skeleton(path).data[:, :300]
    full = np.zeros((3, 300, 25, 2), dtype=np.float32)
    full[:, : data.shape[1]] = data
    return full


def expected_motion(full: np.ndarray, frames: int = 50) -> np.ndarray:
    diff = np.zeros_like(full)
    diff[:, :-1] = full[:, 1:] - full[:, :-1]
    return resize_sequence(diff, frames, length=valid_length(full), axis=1,
                           arithmetic="reference")


def load_part(folder: Path, part: str) -> tuple[list[str], list[int], dict[str, np.ndarray]]:
    with open(folder / f"{part}_label.pkl", "rb") as file:
        names, labels = pickle.load(file)
    arrays = {kind: np.load(folder / f"{part}_{kind}.npy")
              for kind in ("data", "position", "motion", "label")}
    return names, labels, arrays


NTU60_FILES = {  # name: (frames, xsub training?, xview training?)
    "S001C001P001R001A001": (40, True, False),
    "S001C002P003R001A005": (25, False, True),
    "S002C003P002R002A060": (60, True, True),
    "S003C001P040R001A010": (12, False, False),
    "S001C002P004R001A002": (310, True, True),  # longer than 300: the first 300 kept
}


def test_ntu60_arrays_labels_and_splits(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    paths = {name: write_ntu(raw, name, frames, seed, two=seed % 2 == 0)
             for seed, (name, (frames, _, _)) in enumerate(NTU60_FILES.items())}
    summary = prepare("ntu60", raw, tmp_path / "out", workers=1, progress=False)
    assert summary.samples == {"xsub": {"train": 3, "val": 2}, "xview": {"train": 3, "val": 2}}
    assert summary.skipped == [] and summary.files == 5
    for index, benchmark in enumerate(("xsub", "xview")):
        for part in ("train", "val"):
            names, labels, arrays = load_part(tmp_path / "out" / benchmark, part)
            stems = sorted(n for n, info in NTU60_FILES.items()
                           if info[1 + index] == (part == "train"))
            # The reference pickle: sorted file names with .skeleton, int labels A - 1.
            assert names == [f"{stem}.skeleton" for stem in stems]
            assert labels == [int(stem[-3:]) - 1 for stem in stems]
            assert all(type(label) is int for label in labels)
            full = np.stack([expected_full(paths[stem]) for stem in stems])
            assert arrays["data"].dtype == np.float32 and arrays["data"].shape == full.shape
            np.testing.assert_array_equal(arrays["data"], full)
            # The 50-frame arrays are aimclr.data.preprocess applied to the 300-frame ones,
            # in the reference's float32 arithmetic.
            np.testing.assert_array_equal(
                arrays["position"],
                np.stack([preprocess_sample(x, arithmetic="reference") for x in full]))
            np.testing.assert_array_equal(arrays["motion"],
                                          np.stack([expected_motion(x) for x in full]))
            assert arrays["label"].dtype == np.int64
            assert arrays["label"].ravel().tolist() == [v - min(labels) for v in labels]
    long = read_ntu_skeleton(paths["S001C002P004R001A002"]).data
    data = np.load(tmp_path / "out" / "xsub" / "train_data.npy")
    np.testing.assert_array_equal(data[1], long[:, :300])  # sorted second: ...P004...


def test_ntu120_two_folders_xsub_and_xset(tmp_path: Path) -> None:
    write_ntu(tmp_path / "s001_s017", "S017C001P045R001A001", 5, 0)  # xsub train, xset val
    write_ntu(tmp_path / "s018_s032", "S018C002P044R001A120", 5, 1)  # xsub val, xset train
    write_ntu(tmp_path / "s018_s032", "S032C003P103R002A061", 5, 2)  # train, train
    summary = prepare("ntu120", [tmp_path / "s001_s017", tmp_path / "s018_s032"],
                      tmp_path / "out", workers=1, progress=False, frames=0)
    assert summary.samples == {"xsub": {"train": 2, "val": 1}, "xset": {"train": 2, "val": 1}}
    with open(tmp_path / "out" / "xset" / "val_label.pkl", "rb") as file:
        assert pickle.load(file) == (["S017C001P045R001A001.skeleton"], [0])
    assert not (tmp_path / "out" / "xsub" / "train_position.npy").exists()  # frames=0
    write_ntu(tmp_path / "s018_s032", "S017C001P045R001A001", 5, 3)
    with pytest.raises(AimCLRError, match="is in two raw folders"):
        prepare("ntu120", [tmp_path / "s001_s017", tmp_path / "s018_s032"], tmp_path / "o2",
                workers=1, progress=False)


def test_ignore_list_and_files_without_skeletons(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    for seed, name in enumerate(["S001C001P001R001A001", "S001C001P001R001A002",
                                 "S001C001P001R001A003", "S001C001P002R001A004"]):
        write_ntu(raw, name, 8, seed)
    (raw / "S001C001P001R002A001.skeleton").write_text("0\n")
    (raw / "S001C001P001R002A002.skeleton").write_text("3\n0\n0\n0\n")
    ignore = tmp_path / "missing.txt"
    ignore.write_text("S001C001P001R001A002\nS001C001P001R001A003.skeleton\nS009C001P001R001A001\n")
    summary = prepare("ntu60", raw, tmp_path / "out", ignore=ignore, workers=1, progress=False)
    assert summary.ignored == 2
    assert summary.skipped == [("S001C001P001R002A001.skeleton", "0 frames"),
                               ("S001C001P001R002A002.skeleton", "no body in any of the 3 frames")]
    assert "1 names of the ignore list match no file" in summary.notes
    names, _, arrays = load_part(tmp_path / "out" / "xsub", "train")
    assert names == ["S001C001P001R001A001.skeleton", "S001C001P002R001A004.skeleton"]
    assert arrays["data"].shape == (2, 3, 300, 25, 2)  # reserved for 4, shrunk to 2
    np.testing.assert_array_equal(arrays["data"][1], expected_full(raw / names[1]))


def test_reference_arrays_crop_and_empty_sample() -> None:
    x = np.arange(3 * 305 * 25 * 2, dtype=np.float32).reshape(3, 305, 25, 2) + 1
    full, _, _ = reference_arrays(x, frames=0, crop="center")
    np.testing.assert_array_equal(full, x[:, 2:302])  # (305 - 300) // 2 = 2
    full, position, motion = reference_arrays(np.zeros((3, 7, 25, 2), np.float32), 16)
    assert not full.any() and position is not None and motion is not None
    assert position.shape == motion.shape == (3, 16, 25, 2) and not position.any()
    with pytest.raises(AimCLRError, match=r"\(3, T, 25, 2\), got shape \(3, 7, 25\)"):
        reference_arrays(np.zeros((3, 7, 25)))
    with pytest.raises(AimCLRError, match="crop must be 'start' or 'center'"):
        reference_arrays(x, crop="middle")


def outputs_of(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


def test_bad_file_stops_before_out_changes_or_is_skipped(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write_ntu(raw, "S001C001P001R001A001", 6, 0)
    bad = write_ntu(raw, "S001C001P002R001A002", 6, 1)
    bad.write_text("\n".join(bad.read_text().splitlines()[:20]) + "\n")  # truncated
    write_ntu(raw, "S001C001P003R001A003", 6, 2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RawDataError, match=r"S001C001P002R001A002.skeleton, line 21: the file "
                                           "ends where the joints of body 1 of frame 1"):
        prepare("ntu60", raw, out, workers=1, progress=False)
    assert outputs_of(out) == ["notes.txt"]  # nothing written, no temporary file left

    summary = prepare("ntu60", raw, out, workers=1, progress=False, skip_bad=True)
    assert summary.skipped == [(str(bad), "line 21: the file ends where the joints of body 1 "
                                          "of frame 1 should be: truncated file, or a frame or "
                                          "body count that announces more than the file holds")]
    assert summary.samples["xsub"] == {"train": 1, "val": 1}
    assert "partial" not in " ".join(outputs_of(out))


@pytest.mark.parametrize(
    ("name", "message"),
    [("S001C001P001R001A01.skeleton", "unparsable file name"),
     ("README.md", "unparsable file name"),
     ("S018C001P001R001A001.skeleton", "NTU RGB\\+D 120 sample .setup > 17 or action > 60.")],
)
def test_bad_names(tmp_path: Path, name: str, message: str) -> None:
    raw = tmp_path / "raw"
    write_ntu(raw, "S001C001P001R001A001", 4, 0)
    (raw / name).write_text("0\n")
    with pytest.raises(RawDataError, match=message) as info:
        prepare("ntu60", raw, tmp_path / "out", workers=1, progress=False)
    assert info.value.path == str(raw / name)
    assert not (tmp_path / "out").exists()
    summary = prepare("ntu60", raw, tmp_path / "out", workers=1, progress=False, skip_bad=True)
    assert [entry[0] for entry in summary.skipped] == [str(raw / name)]


def test_missing_and_empty_folders_and_bad_arguments(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(AimCLRError, match=r"no files in .*expected NTU RGB\+D files named"):
        prepare("ntu60", tmp_path / "empty", tmp_path / "out", progress=False)
    with pytest.raises(AimCLRError, match=r"raw folder .* not found"):
        prepare("ntu60", tmp_path / "nope", tmp_path / "out", progress=False)
    with pytest.raises(AimCLRError, match="benchmarks of ntu60 must be distinct names among "
                                          "xsub, xview, got \\['xset'\\]"):
        prepare("ntu60", tmp_path / "empty", tmp_path / "out", benchmarks=["xset"])
    with pytest.raises(AimCLRError, match="dataset must be one of ntu60, ntu120, pku1, pku2"):
        prepare("ntu", tmp_path / "empty", tmp_path / "out")
    with pytest.raises(AimCLRError, match="nothing to write"):
        prepare("ntu60", tmp_path / "empty", tmp_path / "out", frames=0, full_length=False)
    assert not (tmp_path / "out").exists()


def test_outputs_are_not_overwritten_without_overwrite(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    path = write_ntu(raw, "S001C001P001R001A001", 5, 0)
    out = tmp_path / "out"
    prepare("ntu60", raw, out, workers=1, progress=False)
    before = {name: (out / name).read_bytes() for name in outputs_of(out)}
    write_ntu(raw, "S001C001P001R001A001", 9, 1)
    with pytest.raises(AimCLRError, match=r"output files exist already .* \(--overwrite\)"):
        prepare("ntu60", raw, out, workers=1, progress=False)
    assert {name: (out / name).read_bytes() for name in outputs_of(out)} == before
    prepare("ntu60", raw, out, workers=1, progress=False, overwrite=True)
    np.testing.assert_array_equal(np.load(out / "xsub" / "train_data.npy")[0],
                                  expected_full(path))
    assert (out / "xsub" / "train_data.npy").read_bytes() != before["xsub/train_data.npy"]


def test_interrupted_run_leaves_no_output_under_a_final_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tmp_path / "raw"
    write_ntu_folder(raw, 6, seed=0, frames=(5, 10))
    original = convert.reference_arrays
    calls = {"n": 0}

    def interrupted(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(convert, "reference_arrays", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare("ntu60", raw, tmp_path / "out", workers=1, progress=False)
    assert outputs_of(tmp_path / "out") == []  # temporary files removed too


def _killed_run(raw: str, out: str) -> None:
    """Run prepare and die without any cleanup in the middle of writing (as SIGKILL)."""
    original = convert.reference_arrays
    calls = {"n": 0}

    def killed(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 4:
            os._exit(9)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    convert.reference_arrays = killed  # type: ignore[assignment]
    prepare("ntu60", raw, out, workers=1, progress=False)


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_killed_run_leaves_only_partial_files(tmp_path: Path) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    write_ntu_folder(raw, 6, seed=0, frames=(5, 10))
    process = multiprocessing.get_context("fork").Process(target=_killed_run,
                                                          args=(str(raw), str(out)))
    process.start()
    process.join()
    assert process.exitcode == 9
    left = outputs_of(out)
    assert left and all(name.endswith(".partial") for name in left)
    for benchmark in ("xsub", "xview"):
        for part in ("train", "val"):
            with pytest.raises(AimCLRError, match="does not exist"):
                SkeletonNpyDataset(out / benchmark / f"{part}_position.npy",
                                   out / benchmark / f"{part}_label.pkl")
    # Leftover temporary files are not outputs: a new run needs no --overwrite.
    prepare("ntu60", raw, out, workers=1, progress=False)
    assert not any(name.endswith(".partial") for name in outputs_of(out))


def test_two_workers_write_the_same_files_as_one(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write_ntu_folder(raw, 20, seed=3, frames=(5, 30))
    prepare("ntu60", raw, tmp_path / "one", workers=1, progress=False)
    summary = prepare("ntu60", raw, tmp_path / "two", workers=2, progress=False)
    assert summary.workers == 2
    for name in outputs_of(tmp_path / "one"):
        if name.endswith(".npy") or name.endswith(".pkl"):
            assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


# ------------------------------------------------------------------------------ PKU
def pku_values(frames: int, seed: int) -> np.ndarray:
    values = np.random.default_rng(seed).normal(size=(frames, 2, 25, 3))
    values[frames // 2 :, 1] = 0.0  # the second person leaves half way
    return values


def write_pku_download(root: Path) -> dict[str, np.ndarray]:
    """Three Part I videos, label files and both split files, by hand."""
    (root / "PKU_Skeleton_Renew").mkdir(parents=True)
    (root / "Train_Label_PKU_final").mkdir()
    videos = {"0002-L": pku_values(20, 0), "0002-M": pku_values(320, 1),
              "0003-R": pku_values(9, 2)}
    labels = {"0002-L": "13,2,4,1\n5,6,10,2\n",
              "0002-M": "1,11,315,1\n",  # 305 frames: centre-cropped to 300
              "0003-R": "51,3,3,1"}  # one instance, no final line end
    for name, values in videos.items():
        (root / "PKU_Skeleton_Renew" / f"{name}.txt").write_text(format_pku_frames(values))
        (root / "Train_Label_PKU_final" / f"{name}.txt").write_text(labels[name])
    (root / "Split").mkdir()
    (root / "Split" / "cross-subject.txt").write_text(
        "Training videos: \n0002-L, 0002-M\nValidataion videos: \n0003-R\n")
    (root / "Split" / "cross-view.txt").write_text(
        "Training videos: \n0002-L, 0003-R\nValidataion videos: \n\n")
    # What the files hold: the values written with 7 significant digits, as float32.
    return {name: np.array([float(f"{v:.7g}") for v in values.ravel()])
            .reshape(values.shape).astype(np.float32) for name, values in videos.items()}


def test_pku1_instances_names_splits_and_crop(tmp_path: Path) -> None:
    root = tmp_path / "pku"
    videos = write_pku_download(root)
    ignore = tmp_path / "ignore.txt"
    ignore.write_text("F002V001C005L002\n")
    summary = prepare("pku1", root, tmp_path / "out", ignore=ignore, workers=1,
                      progress=False)
    assert summary.samples == {"xsub": {"train": 2, "val": 1}, "xview": {"train": 2, "val": 1}}
    assert summary.ignored == 1
    assert summary.notes == ["xview: 1 videos are in neither list of cross-view.txt; they "
                             "validate, as in the reference"]

    def instance(video: str, start: int, end: int) -> np.ndarray:  # 1-based inclusive
        clip = videos[video][start - 1 : end]  # (T, M, V, C)
        if len(clip) > 300:
            first = (len(clip) - 300) // 2
            clip = clip[first : first + 300]
        full = np.zeros((3, 300, 25, 2), dtype=np.float32)
        full[:, : len(clip)] = clip.transpose(3, 0, 2, 1)
        return full

    names, labels, arrays = load_part(tmp_path / "out" / "xsub", "train")
    assert names == ["F002V001C013L001.skeleton", "F002V002C001L001.skeleton"]
    assert labels == [12, 0]
    np.testing.assert_array_equal(arrays["data"][0], instance("0002-L", 2, 4))
    np.testing.assert_array_equal(arrays["data"][1], instance("0002-M", 11, 315))
    np.testing.assert_array_equal(arrays["data"][1, :, 0], videos["0002-M"][12].T)  # 11 + 2
    np.testing.assert_array_equal(arrays["position"][1], preprocess_sample(arrays["data"][1],
                                                                      arithmetic="reference"))
    names, labels, arrays = load_part(tmp_path / "out" / "xview", "val")
    assert (names, labels) == (["F002V002C001L001.skeleton"], [0])
    names, labels, arrays = load_part(tmp_path / "out" / "xview", "train")
    assert names == ["F002V001C013L001.skeleton", "F003V003C051L001.skeleton"]
    np.testing.assert_array_equal(arrays["data"][1], instance("0003-R", 3, 3))
    assert arrays["label"].ravel().tolist() == [0, 38]  # labels minus the part's smallest


def test_pku_bad_inputs(tmp_path: Path) -> None:
    root = tmp_path / "pku"
    write_pku_download(root)
    (root / "Train_Label_PKU_final" / "0002-M.txt").write_text("1,11,321,1\n")
    with pytest.raises(RawDataError, match="line 1: the action instance ends at frame 321 but "
                                           "the skeleton file has 320 frames"):
        prepare("pku1", root, tmp_path / "out", workers=1, progress=False)
    assert not (tmp_path / "out").exists() or outputs_of(tmp_path / "out") == []
    summary = prepare("pku1", root, tmp_path / "out", workers=1, progress=False, skip_bad=True)
    assert summary.skipped[0][0].startswith("F002V002C001L001.skeleton (")
    (root / "Split" / "cross-view.txt").unlink()
    with pytest.raises(RawDataError, match=r"cross-view\.txt: split file of the xview benchmark"):
        prepare("pku1", root, tmp_path / "o2", progress=False)
    summary = prepare("pku1", root, tmp_path / "o2", progress=False, benchmarks=["xsub"],
                      skip_bad=True, workers=1)
    assert list(summary.samples) == ["xsub"]
    (root / "Split" / "cross-subject.txt").write_text(
        "Training videos: \n0002-L, 0002-M\nValidataion videos: \n0003-R, 0002-L\n")
    with pytest.raises(AimCLRError, match="video 0002-L is in both the training and the "
                                          "validation list"):
        prepare("pku1", root, tmp_path / "o3", progress=False, benchmarks=["xsub"])
    with pytest.raises(AimCLRError, match="no skeleton folder in"):
        prepare("pku1", tmp_path, tmp_path / "o4", progress=False)


def test_pku2_generated_download(tmp_path: Path) -> None:
    layout = write_pku_folder(tmp_path / "pku2", videos=6, part=2, seed=1)
    summary = prepare("pku2", layout, tmp_path / "out", workers=1, progress=False)
    names, _, _ = load_part(tmp_path / "out" / "xview", "train")
    assert names and all(name.startswith(("A001N001V001", "A001N001V003", "A001N002V001",
                                          "A001N002V003")) for name in names)
    assert names == sorted(names)
    assert sum(summary.samples["xsub"].values()) == sum(summary.samples["xview"].values())
    assert PkuLayout.discover(tmp_path / "pku2", 2) == layout


# ------------------------------------------------------------------------------ CLI, use
def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = tmp_path / "raw"
    write_ntu_folder(raw, 4, seed=0, frames=(5, 10))
    out = tmp_path / "out"
    assert main(["ntu60", str(raw), str(out), "--workers", "1", "--benchmarks", "xview",
                 "--frames", "8"]) == 0
    captured = capsys.readouterr()
    assert "ntu60: 4 raw files" in captured.out and "xview  train" in captured.out
    assert "ntu60 [" in captured.err and "4/4 samples" in captured.err  # the progress bar
    assert sorted(p.name for p in (out / "xview").iterdir()) == sorted(
        output_files("train") + output_files("val"))
    assert np.load(out / "xview" / "val_position.npy").shape[2] == 8
    assert not (out / "xsub").exists()
    assert main(["ntu60", str(raw), str(out), "--quiet"]) == 2
    assert "error: " in capsys.readouterr().err
    assert main(["pku1", str(raw), str(raw), str(out)]) == 2
    assert "pku1 takes one RAW folder, got 2" in capsys.readouterr().err


def test_prepared_folder_trains_with_the_example(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write_ntu_folder(raw, 16, seed=0, frames=(10, 40))
    prepare("ntu60", raw, tmp_path / "out", workers=1, progress=False, frames=16,
            benchmarks=["xsub"])
    train = SkeletonNpyDataset(tmp_path / "out" / "xsub" / "train_position.npy",
                               tmp_path / "out" / "xsub" / "train_label.pkl")
    x, label = train[0]
    assert tuple(x.shape) == (3, 16, 25, 2) and 0 <= label < 60
    pretrain = load_example("pretrain", "aimclr_prepare")
    assert pretrain.main([
        "--data", f"ntu:{tmp_path / 'out' / 'xsub'}", "--epochs", "1", "--batch-size", "4",
        "--hidden-channels", "2", "--hidden-dim", "8", "--feature-dim", "8",
        "--queue-size", "8", "--knn-every", "0", "--linear-epochs", "0", "--threads", "1",
        "--quiet", "--workdir", str(tmp_path / "run"),
    ]) == 0


def test_npy_writer_shrinks_in_place(tmp_path: Path) -> None:
    writer = NpyWriter(tmp_path / "a.npy", (2, 3), np.float32, capacity=1000, block=7)
    rows = np.arange(23 * 6, dtype=np.float32).reshape(23, 2, 3)
    for row in rows:
        writer.append(row)
    assert not (tmp_path / "a.npy").exists()
    partial = writer.close()
    np.testing.assert_array_equal(np.load(partial), rows)
    assert partial.stat().st_size == 128 + rows.nbytes
    with pytest.raises(IndexError, match="more than the 1 samples reserved"):
        full = NpyWriter(tmp_path / "b.npy", (2,), np.int64, capacity=1)
        full.append(np.zeros(2))
        full.append(np.zeros(2))
