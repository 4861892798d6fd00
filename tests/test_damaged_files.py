"""Damaged, foreign or hostile data files: a clear AimCLRError naming the file, never numpy's.

NumPy reads a file without the .npy header as a pickle and answers "If you trust the
file you can load it unsafely using the `allow_pickle=` keyword"; no message here may
repeat that advice.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from aimclr import AimCLRError
from aimclr.data import SkeletonNpyDataset, load_label_file, load_npz


def _raises_clearly(call: object, file: Path, message: str) -> None:
    with pytest.raises(AimCLRError, match=message) as caught:
        call()  # type: ignore[operator]
    text = str(caught.value)
    assert file.name in text and "allow_pickle" not in text, text


def _labels(tmp_path: Path, count: int = 4) -> Path:
    path = tmp_path / "labels.pkl"
    path.write_bytes(pickle.dumps(([f"s{i}" for i in range(count)], list(range(count)))))
    return path


def test_label_npy_object_garbage_truncated(tmp_path: Path) -> None:
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([1, "walk", None], dtype=object), allow_pickle=True)
    _raises_clearly(lambda: load_label_file(obj), obj,
                    r"label file .* holds Python objects \(object dtype\), which are refused")
    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"labels: 0 1 2\n")
    _raises_clearly(lambda: load_label_file(garbage), garbage,
                    r"is not a \.npy file \(it lacks the \.npy header")
    np.save(tmp_path / "full.npy", np.arange(100))
    truncated = tmp_path / "truncated.npy"
    truncated.write_bytes((tmp_path / "full.npy").read_bytes()[:-40])
    _raises_clearly(lambda: load_label_file(truncated), truncated,
                    r"cannot read label file .* \(truncated or damaged\?\)")
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    _raises_clearly(lambda: load_label_file(empty), empty, r"is not a \.npy file")


def test_label_pickle_with_wrong_structure(tmp_path: Path) -> None:
    for name, content, message in [
        ("names_int.pkl", (5, [1, 2]), r"its sample names are a int"),
        ("ragged.pkl", (["a", "b"], [[1, 2], [3]]), r"they cannot form an array"),
        ("none.pkl", (["a", "b"], [1, None]), r"must be a 1-D list of integers"),
    ]:
        path = tmp_path / name
        path.write_bytes(pickle.dumps(content))
        _raises_clearly(lambda path=path: load_label_file(path), path, message)
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(pickle.dumps((["a"] * 50, list(range(50))))[:60])
    _raises_clearly(lambda: load_label_file(truncated), truncated, r"cannot read label file")


def test_data_npy_garbage_truncated_object(tmp_path: Path) -> None:
    labels = _labels(tmp_path)
    np.save(tmp_path / "full.npy", np.zeros((4, 3, 10, 25, 2), np.float32))
    truncated = tmp_path / "truncated.npy"
    truncated.write_bytes((tmp_path / "full.npy").read_bytes()[:5000])
    for mmap in (True, False):
        _raises_clearly(lambda mmap=mmap: SkeletonNpyDataset(truncated, labels, mmap=mmap),
                        truncated, r"\(truncated or damaged\?\).*layout \(N, C, T, V, M\)")
    obj = tmp_path / "obj.npy"
    np.save(obj, np.empty((4, 3, 10, 25, 2), dtype=object), allow_pickle=True)
    _raises_clearly(lambda: SkeletonNpyDataset(obj, labels), obj, "holds Python objects")
    archive = tmp_path / "archive.npy"
    with archive.open("wb") as handle:
        np.savez(handle, data=np.zeros(3))
    _raises_clearly(lambda: SkeletonNpyDataset(archive, labels), archive,
                    r"is not a \.npy file .*an \.npz archive")


def test_npz_garbage_truncated_flipped_object(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    np.savez(good, data=np.zeros((10, 25, 3), np.float16), offsets=np.array([0, 4, 10]),
             labels=np.array([0, 1]), layout=np.array("ntu-rgb+d"))
    raw = good.read_bytes()
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"\x00\x01 not an archive" * 20)
    _raises_clearly(lambda: load_npz(garbage), garbage, r"is not an \.npz archive")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(raw[: len(raw) // 2])
    _raises_clearly(lambda: load_npz(truncated), truncated, r"as an \.npz archive \(damaged\?\)")
    flipped = tmp_path / "flipped.npz"
    damaged = bytearray(raw)
    damaged[200] ^= 0xFF  # inside the data member: the zip CRC catches it
    flipped.write_bytes(bytes(damaged))
    _raises_clearly(lambda: load_npz(flipped), flipped, r"cannot read key 'data' of .*damaged")
    obj = tmp_path / "obj.npz"
    np.savez(obj, data=np.zeros((10, 25, 3), np.float16), offsets=np.array([0, 4, 10]),
             labels=np.array([0, 1]), class_names=np.array(["a", None], dtype=object))
    _raises_clearly(lambda: load_npz(obj), obj, r"key 'class_names' of .* holds Python objects")
    numeric = tmp_path / "numeric_names.npz"
    np.savez(numeric, data=np.zeros((10, 25, 3), np.float16), offsets=np.array([0, 4, 10]),
             labels=np.array([0, 1]), layout=np.array(7))
    _raises_clearly(lambda: load_npz(numeric), numeric, r"key 'layout' .* must be a string")
