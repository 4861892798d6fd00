"""open_dataset: train / test sets from a spec string, every error before training."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from aimclr.data import (
    SHORT_RUN_SYNTHETIC,
    SkeletonNpyDataset,
    SyntheticActionDataset,
    load_npz,
    open_dataset,
    parse_synthetic_options,
    split_by_style,
)
from aimclr.errors import AimCLRError


def test_synthetic_spec_is_the_synthetic_set_with_the_short_run_settings() -> None:
    splits = open_dataset("synthetic", num_frames=12, num_persons=2, train_samples=10,
                          test_samples=6, seed=4)  # fmt: skip
    train = SyntheticActionDataset(10, seed=4, num_frames=12, num_persons=2,
                                   **SHORT_RUN_SYNTHETIC)  # fmt: skip
    test = SyntheticActionDataset(6, seed=10_004, num_frames=12, num_persons=2,
                                  **SHORT_RUN_SYNTHETIC)  # fmt: skip
    for got, want in ((splits.train, train), (splits.test, test)):
        assert len(got) == len(want)  # type: ignore[arg-type]
        assert all(torch.equal(got[i][0], want[i][0]) and got[i][1] == want[i][1]
                   for i in range(len(want)))  # fmt: skip
    assert (splits.num_classes, splits.name) == (12, "synthetic")
    plain = open_dataset("synthetic", num_frames=12, train_samples=4, test_samples=2,
                         synthetic={"max_yaw_deg": 90.0})  # fmt: skip
    assert not torch.equal(plain.train[0][0], open_dataset(
        "synthetic", num_frames=12, train_samples=4, test_samples=2).train[0][0])  # fmt: skip


def test_ntu_spec_opens_both_arrays_and_counts_the_classes(tmp_path: Path) -> None:
    for part, labels in (("train", [0, 4, 2]), ("val", [1, 6])):
        np.save(tmp_path / f"{part}_data.npy", np.ones((len(labels), 3, 4, 25, 2), np.float32))
        with open(tmp_path / f"{part}_label.pkl", "wb") as file:
            pickle.dump(([f"s{i}" for i in range(len(labels))], labels), file)
    splits = open_dataset(f"ntu:{tmp_path}")
    assert isinstance(splits.train, SkeletonNpyDataset) and isinstance(splits.test,
                                                                       SkeletonNpyDataset)
    assert (len(splits.train), len(splits.test), splits.num_classes) == (3, 2, 7)
    assert tuple(splits.test[1][0].shape) == (3, 4, 25, 2) and splits.test[1][1] == 6
    assert splits.name == f"NTU arrays in {tmp_path}"


def test_ntu_spec_takes_one_array_kind_for_both_parts(tmp_path: Path) -> None:
    def write(part: str, kind: str, frames: int) -> None:
        np.save(tmp_path / f"{part}_{kind}.npy", np.ones((2, 3, frames, 25, 2), np.float32))
        with open(tmp_path / f"{part}_label.pkl", "wb") as file:
            pickle.dump((["a", "b"], [0, 1]), file)

    write("train", "data", 300)  # the 300-frame arrays of both parts, and
    write("val", "data", 300)
    write("val", "position", 50)  # a 50-frame test part without its training part
    splits = open_dataset(f"ntu:{tmp_path}")
    assert splits.train[0][0].shape[1] == splits.test[0][0].shape[1] == 300
    (tmp_path / "train_data.npy").unlink()
    with pytest.raises(AimCLRError, match=r"has val_position.npy, val_data.npy"):
        open_dataset(f"ntu:{tmp_path}")


def test_npz_spec_splits_by_style_in_world_coordinates(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    sequences = [rng.normal(size=(t, 25, 3)).astype(np.float32) for t in (9, 14, 20, 11)]
    path = tmp_path / "toy.npz"
    np.savez(path, data=np.concatenate(sequences), offsets=np.array([0, 9, 23, 43, 54]),
             labels=np.array([0, 1, 1, 0]), class_names=np.array(["a", "b"]),
             styles=np.array([0, 1, 0, 1]), style_names=np.array(["calm", "angry"]))
    splits = open_dataset(path, num_frames=8, test_styles=["angry"])
    skeletons = load_npz(path)
    train_idx, test_idx = split_by_style(skeletons, ["angry"])
    want = skeletons.select(test_idx).to_array(8, 1, align=False)
    assert (len(splits.train), len(splits.test), splits.name) == (len(train_idx), 2, "toy.npz")
    assert torch.equal(splits.test[1][0], torch.from_numpy(want[1]))
    with pytest.raises(AimCLRError, match=r"choose how to split.*\['calm', 'angry'\]"):
        open_dataset(path)  # no dataset-specific default: the message lists the choices


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("data.csv", "spec must be 'synthetic', 'ntu:DIR' or a .npz file, got 'data.csv'"),
        ("ntu:nowhere", "an ntu: folder needs train_position.npy.*nowhere has none of them"),
        ("missing.npz", "missing.npz"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(AimCLRError, match=message):
        open_dataset(spec, split="style:x" if spec.endswith(".npz") else None)


def test_parse_synthetic_options() -> None:
    assert parse_synthetic_options(["shear=0.2", " size_range=[0.9, 1.1]"]) == {
        "shear": 0.2, "size_range": (0.9, 1.1)}  # fmt: skip
    for bad in ("shear", "shear=much", "size_range=[0.9,"):
        with pytest.raises(AimCLRError, match="must be NAME=VALUE"):
            parse_synthetic_options([bad])
