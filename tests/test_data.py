"""Datasets over .npy/.pkl files and .npz ragged sequences; class-balanced subsets."""

from __future__ import annotations

import os
import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from aimclr.data import (
    RaggedSkeletons,
    SkeletonNpyDataset,
    SkeletonTensorDataset,
    align_yaw,
    center_on_joint,
    class_balanced_subset,
    load_label_file,
    load_npz,
    resize_sequence,
    sequence_to_ctvm,
    split_by_style,
    style_indices,
)
from aimclr.errors import AimCLRError

BANDAI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bandai2.npz"


def _write(tmp_path: Path, n: int = 6, labels: object = None, shape: tuple[int, ...] | None = None
           ) -> tuple[Path, Path]:
    data = np.random.default_rng(0).normal(size=shape or (n, 3, 50, 25, 2)).astype(np.float32)
    np.save(tmp_path / "train_position.npy", data)
    names = [f"S001C001P001R001A{i:03d}" for i in range(n)]
    content = (names, list(range(n)) if labels is None else labels)
    (tmp_path / "train_label.pkl").write_bytes(pickle.dumps(content))
    return tmp_path / "train_position.npy", tmp_path / "train_label.pkl"


def test_npy_dataset_reads_memmap(tmp_path: Path) -> None:
    data_path, label_path = _write(tmp_path)
    ds = SkeletonNpyDataset(data_path, label_path)
    assert isinstance(ds.data, np.memmap)
    assert len(ds) == 6
    x, y = ds[3]
    assert x.dtype == torch.float32 and tuple(x.shape) == (3, 50, 25, 2) and y == 3
    np.testing.assert_array_equal(x.numpy(), np.load(data_path)[3])
    views = SkeletonNpyDataset(data_path, label_path, transform=lambda t: [t, -t])[0][0]
    assert torch.equal(views[1], -views[0])


def test_npy_dataset_error_paths(tmp_path: Path) -> None:
    data_path, label_path = _write(tmp_path)
    with pytest.raises(AimCLRError, match=r"does not exist \(expected a \.npy array"):
        SkeletonNpyDataset(tmp_path / "missing.npy", label_path)
    with pytest.raises(AimCLRError, match=r"label file .* does not exist"):
        SkeletonNpyDataset(data_path, tmp_path / "missing.pkl")
    (tmp_path / "bad.npy").write_bytes(b"not a numpy file")
    # numpy itself reads a headerless file as a pickle and advises allow_pickle
    headerless = r"bad\.npy' is not a \.npy file .* layout \(N, C, T, V, M\)"
    with pytest.raises(AimCLRError, match=headerless) as caught:
        SkeletonNpyDataset(tmp_path / "bad.npy", label_path)
    assert "allow_pickle" not in str(caught.value)
    np.save(tmp_path / "rank4.npy", np.zeros((6, 3, 50, 25), dtype=np.float32))
    with pytest.raises(AimCLRError, match=r"layout \(N, C, T, V, M\).*got shape \(6, 3, 50, 25\)"):
        SkeletonNpyDataset(tmp_path / "rank4.npy", label_path)
    np.save(tmp_path / "v18.npy", np.zeros((6, 3, 50, 18, 2), dtype=np.float32))
    with pytest.raises(AimCLRError, match=r"with V = 25, got shape \(6, 3, 50, 18, 2\)"):
        SkeletonNpyDataset(tmp_path / "v18.npy", label_path)
    assert len(SkeletonNpyDataset(tmp_path / "v18.npy", label_path, num_joints=None)) == 6
    np.save(tmp_path / "ints.npy", np.zeros((6, 3, 50, 25, 2), dtype=np.int64))
    with pytest.raises(AimCLRError, match="must be a floating array"):
        SkeletonNpyDataset(tmp_path / "ints.npy", label_path)
    (tmp_path / "short").mkdir()
    _, short = _write(tmp_path / "short", 4)
    with pytest.raises(AimCLRError, match=r"6 samples in the data .* but 4 labels"):
        SkeletonNpyDataset(data_path, short)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ((["a", "b"],), "must hold a pickle of"),
        ({"names": [], "labels": []}, "got dict"),
        ((["a", "b"], [0]), "2 sample names and 1 labels"),
        ((["a", "b"], [0.5, 1.0]), "1-D list of integers"),
        ((["a", "b"], [0, -1]), "0-based class indices >= 0"),
    ],
)
def test_label_file_malformed(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "label.pkl"
    path.write_bytes(pickle.dumps(content))
    with pytest.raises(AimCLRError, match=message):
        load_label_file(path)


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.getcwd, ())  # type: ignore[return-value]


def test_label_file_refuses_objects_and_accepts_numpy_ints(tmp_path: Path) -> None:
    path = tmp_path / "label.pkl"
    path.write_bytes(pickle.dumps((["a"], [_Evil()])))
    with pytest.raises(AimCLRError, match=r"only lists of str and int, found a \w+\.getcwd"):
        load_label_file(path)
    path.write_bytes(pickle.dumps((["a", "b"], [np.int64(3), np.int64(1)])))
    assert load_label_file(path) == (["a", "b"], [3, 1])
    np.save(tmp_path / "label.npy", np.array([2, 0]))
    assert load_label_file(tmp_path / "label.npy") == (["0", "1"], [2, 0])


def test_tensor_dataset() -> None:
    ds = SkeletonTensorDataset(np.ones((3, 3, 10, 25, 1)), torch.tensor([2, 0, 1]))
    assert ds.data.dtype == torch.float32 and ds[0][1] == 2 and len(ds) == 3
    with pytest.raises(AimCLRError, match=r"3 samples in the data .* but 2 labels"):
        SkeletonTensorDataset(np.ones((3, 3, 10, 25, 1)), [0, 1])
    with pytest.raises(AimCLRError, match="labels must be integers"):
        SkeletonTensorDataset(np.ones((2, 3, 10, 25, 1)), np.array([0.0, 1.0]))
    with pytest.raises(AimCLRError, match=r"layout \(N, C, T, V, M\)"):
        SkeletonTensorDataset(np.ones((3, 10, 25, 1)), [0, 1, 2])
    with pytest.raises(AimCLRError, match=r"labels must have layout \(N,\), got shape \(2, 2\)"):
        SkeletonTensorDataset(np.ones((4, 3, 10, 25, 1)), np.zeros((2, 2), dtype=int))


def _npz(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    rng = np.random.default_rng(5)
    seqs = [rng.normal(size=(t, 25, 3)).astype(np.float16) for t in (12, 30, 75, 9)]
    np.savez(
        tmp_path / "toy.npz",
        data=np.concatenate(seqs),
        offsets=np.array([0, 12, 42, 117, 126]),
        labels=np.array([0, 1, 1, 2]),
        class_names=np.array(["a", "b", "c"]),
        styles=np.array([0, 1, 0, 2]),
        style_names=np.array(["calm", "angry", "tired"]),
        subjects=np.array([1, 1, 2, 2]),
        layout=np.array("ntu-rgb+d"),
    )
    return tmp_path / "toy.npz", seqs


def test_npz_loader_and_fixed_array(tmp_path: Path) -> None:
    path, seqs = _npz(tmp_path)
    ragged = load_npz(path)
    assert len(ragged) == 4 and ragged.lengths.tolist() == [12, 30, 75, 9]
    assert ragged.class_names == ("a", "b", "c") and ragged.style_names[1] == "angry"
    np.testing.assert_array_equal(ragged.sequence(2), seqs[2].astype(np.float32))
    x = ragged.to_array(num_frames=50, num_persons=2)
    assert x.shape == (4, 3, 50, 25, 2) and x.dtype == np.float32
    expected = align_yaw(resize_sequence(center_on_joint(sequence_to_ctvm(seqs[1])), 50, axis=1))
    np.testing.assert_allclose(x[1, ..., 0], expected[..., 0], atol=1e-6)
    assert np.all(x[..., 1] == 0)
    plain = ragged.to_array(align=False, center_joint=None, num_persons=1)
    np.testing.assert_allclose(plain[3, :, :, 7, 0], resize_sequence(seqs[3], 50, axis=0)[:, 7].T,
                               atol=1e-6)
    ds = ragged.to_dataset()
    assert len(ds) == 4 and ds[3][1] == 2


def test_npz_errors(tmp_path: Path) -> None:
    with pytest.raises(AimCLRError, match="does not exist"):
        load_npz(tmp_path / "nope.npz")
    np.savez(tmp_path / "partial.npz", data=np.zeros((3, 25, 3)))
    with pytest.raises(AimCLRError, match=r"lacks the keys \['offsets', 'labels'\]"):
        load_npz(tmp_path / "partial.npz")
    with pytest.raises(AimCLRError, match=r"offsets\[-1\] == 5"):
        RaggedSkeletons(np.zeros((5, 25, 3)), np.array([0, 2, 4]), np.array([0, 1]))
    with pytest.raises(AimCLRError, match=r"one entry per sequence \(2\), got 3"):
        RaggedSkeletons(np.zeros((5, 25, 3)), np.array([0, 2, 5]), np.array([0, 1, 1]))
    empty = RaggedSkeletons(np.zeros((5, 25, 3)), np.array([0, 0, 5]), np.array([0, 1]))
    with pytest.raises(AimCLRError, match=r"sequences \[0\] have no frames"):
        empty.to_array()


def test_style_split(tmp_path: Path) -> None:
    ragged = load_npz(_npz(tmp_path)[0])
    assert style_indices(ragged, ["calm"]).tolist() == [0, 2]
    train, test = split_by_style(ragged, ["angry", 2])
    assert train.tolist() == [0, 2] and test.tolist() == [1, 3]
    sub = ragged.select(test)
    assert sub.lengths.tolist() == [30, 9] and sub.labels.tolist() == [1, 2]
    assert sub.subjects is not None and sub.subjects.tolist() == [1, 2]
    with pytest.raises(AimCLRError, match="unknown style 'happy'"):
        style_indices(ragged, ["happy"])
    no_styles = RaggedSkeletons.from_sequences([np.zeros((3, 25, 3))], [0])
    with pytest.raises(AimCLRError, match="have no styles"):
        style_indices(no_styles, [0])


@pytest.mark.skipif(not BANDAI.is_file(), reason=f"real data not present at {BANDAI}")
def test_bandai2_few_sequences() -> None:
    ragged = load_npz(BANDAI)
    assert len(ragged) == 2902 and len(ragged.class_names) == 10 and len(ragged.style_names) == 7
    sub = ragged.select(range(0, 2902, 300))
    x = sub.to_array(num_frames=50, num_persons=2)
    assert x.shape == (len(sub), 3, 50, 25, 2)
    assert np.all(x[:, :, :, 20] == 0) and np.all(x[..., 1] == 0)
    shoulders = x[:, :, :, 8, 0] - x[:, :, :, 4, 0]
    # aligned: shoulder line on x, except frames whose v_z has the other sign than
    # the clip's majority (the reference's one-sign-per-sequence rule, e.g. in turns)
    assert np.median(np.abs(shoulders[:, 2])) < 0.005
    assert np.all(shoulders[:, 0] > -0.05)
    # one skeleton for all clips: the upper-arm length barely varies
    arm = np.linalg.norm(x[:, :, :, 5, 0] - x[:, :, :, 4, 0], axis=1)
    assert 0.15 < arm.mean() < 0.4 and arm.std() < 0.02
    test = style_indices(ragged, ["elderly"])
    assert len(test) == 314


def test_class_balanced_subset_counts() -> None:
    labels = np.repeat(np.arange(4), [10, 25, 3, 100])
    idx = class_balanced_subset(labels, 0.1, generator=0)
    counts = Counter(labels[idx].tolist())
    assert counts == {0: 1, 1: 2, 2: 1, 3: 10}  # round(2.5) = 2 (ties to even), at least 1
    assert idx == sorted(idx) and len(set(idx)) == len(idx)
    assert idx == class_balanced_subset(torch.as_tensor(labels), 0.1, generator=0)
    assert idx != class_balanced_subset(labels, 0.1, generator=1)
    assert len(class_balanced_subset(labels, 1.0)) == len(labels)
    with pytest.raises(AimCLRError, match=r"fraction must lie in \(0, 1\]"):
        class_balanced_subset(labels, 0.0)
    with pytest.raises(AimCLRError, match="1-D sequence of class indices"):
        class_balanced_subset(np.zeros((2, 2), dtype=int), 0.5)
    assert idx == class_balanced_subset(labels, 0.1, generator=np.int64(0))  # numpy seeds
    with pytest.raises(AimCLRError, match=r"generator must be a torch\.Generator, an integer"):
        class_balanced_subset(labels, 0.1, generator="0")  # type: ignore[arg-type]
