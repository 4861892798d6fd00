"""Training / test splits of .npz recordings: by key, stratified random, index files, specs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from aimclr import AimCLRError
from aimclr.data import (
    RaggedSkeletons,
    check_split,
    load_npz,
    parse_split,
    read_index_file,
    split_by_index_file,
    split_by_key,
    split_by_style,
    split_by_subject,
    split_random,
    style_indices,
)

BANDAI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bandai2.npz"


@pytest.fixture
def recording(tmp_path: Path) -> RaggedSkeletons:
    """30 clips: 3 classes (15, 10, 5), 5 subjects, 2 views, 3 styles, named clips."""
    rng = np.random.default_rng(1)
    lengths = rng.integers(5, 12, size=30)
    np.savez(
        tmp_path / "mine.npz",
        data=rng.normal(size=(int(lengths.sum()), 25, 3)).astype(np.float16),
        offsets=np.concatenate([[0], np.cumsum(lengths)]),
        labels=np.repeat([0, 1, 2], [15, 10, 5]),
        class_names=np.array(["sit", "stand", "jump"]),
        layout=np.array("ntu-rgb+d"),
        subjects=np.arange(30) % 5 + 1,
        views=np.arange(30) % 2,
        styles=np.arange(30) % 3,
        style_names=np.array(["calm", "angry", "tired"]),
        sequence_names=np.array([f"s{i:02d}" for i in range(30)]),
    )
    return load_npz(tmp_path / "mine.npz")


def _is_partition(train: np.ndarray, test: np.ndarray, count: int) -> bool:
    return bool(
        np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
        and np.array_equal(np.sort(np.concatenate([train, test])), np.arange(count))
    )


def test_split_by_subject_and_key(recording: RaggedSkeletons) -> None:
    train, test = split_by_subject(recording, [1, 2])
    assert _is_partition(train, test, 30)
    assert set(recording.subjects[test].tolist()) == {1, 2}  # type: ignore[index]
    assert not set(recording.subjects[train].tolist()) & {1, 2}  # type: ignore[index]
    train_v, test_v = split_by_key(recording, "views", [1])
    assert test_v.tolist() == list(range(1, 30, 2)) and _is_partition(train_v, test_v, 30)
    with pytest.raises(AimCLRError, match=r"subjects \[9\] do not occur .* are \[1, 2, 3, 4, 5\]"):
        split_by_subject(recording, [1, 9])
    with pytest.raises(AimCLRError, match=r"no per-sequence key 'cameras'; they have \['labels', "
                       r"'subjects', 'styles', 'views'\]"):
        split_by_key(recording, "cameras", [1])
    with pytest.raises(AimCLRError, match=r"split by test subjects \[1, 2, 3, 4, 5\] leaves the "
                       r"training set empty: 0 training and 30 test sequences"):
        split_by_subject(recording, [1, 2, 3, 4, 5])


def test_style_names_and_indices_agree(recording: RaggedSkeletons) -> None:
    by_name = split_by_style(recording, ["angry", "tired"])
    by_index = split_by_style(recording, [1, 2])
    by_text = split_by_style(recording, ["1", "2"])  # as a command line passes them
    for other in (by_index, by_text):
        assert all(np.array_equal(a, b) for a, b in zip(by_name, other, strict=True))
    with pytest.raises(AimCLRError, match=r"unknown style 'happy'; known styles: \['calm', "
                       r"'angry', 'tired'\] \(or their indices 0\.\.2\)"):
        style_indices(recording, ["happy"])
    with pytest.raises(AimCLRError, match=r"index in \[0, 3\), got '7'"):
        style_indices(recording, ["7"])
    with pytest.raises(AimCLRError, match="leaves the training set empty: 0 training and 30 test"):
        split_by_style(recording, [0, 1, 2])


def test_random_split_is_stratified_and_seeded(recording: RaggedSkeletons) -> None:
    train, test = split_random(recording, 0.2, seed=4)
    assert _is_partition(train, test, 30)
    assert Counter(recording.labels[test].tolist()) == {0: 3, 1: 2, 2: 1}  # round(0.2 * n_c)
    again = split_random(recording.labels, 0.2, seed=4)
    assert np.array_equal(again[1], test)
    assert not np.array_equal(split_random(recording, 0.2, seed=5)[1], test)
    # at least one test and one training sequence per class with two or more
    tiny = np.array([0, 0, 1, 1, 1, 2])
    train_t, test_t = split_random(tiny, 0.01, seed=0)
    assert sorted(tiny[test_t].tolist()) == [0, 1] and tiny[train_t].tolist().count(2) == 1
    assert Counter(tiny[split_random(tiny, 0.99)[0]].tolist()) == {0: 1, 1: 1, 2: 1}
    with pytest.raises(AimCLRError, match=r"random .* leaves the test set empty: 3 training and "
                       "0 test"):
        split_random([0, 1, 2], 0.5)
    for bad in (0.0, 1.0, -0.1, True):
        with pytest.raises(AimCLRError, match="test_fraction must lie in"):
            split_random(recording, bad)


def test_index_files(recording: RaggedSkeletons, tmp_path: Path) -> None:
    (tmp_path / "test.txt").write_text("# held out\n3, 7\n11  2\n7\n", encoding="utf-8")
    assert read_index_file(tmp_path / "test.txt", recording).tolist() == [2, 3, 7, 11]
    (tmp_path / "names.txt").write_text("s05\ns01 # first\n", encoding="utf-8")
    train, test = split_by_index_file(recording, tmp_path / "names.txt")
    assert test.tolist() == [1, 5] and _is_partition(train, test, 30)
    np.save(tmp_path / "test.npy", np.array([4, 0]))
    np.save(tmp_path / "train.npy", np.array(["s01", "s02"]))
    train, test = split_by_index_file(recording, tmp_path / "test.npy", tmp_path / "train.npy")
    assert train.tolist() == [1, 2] and test.tolist() == [0, 4]
    (tmp_path / "bad.txt").write_text("s01\nnope\n", encoding="utf-8")
    with pytest.raises(AimCLRError, match=r"1 of 2 names are not sequence names .*\['nope'\]"):
        read_index_file(tmp_path / "bad.txt", recording)
    (tmp_path / "far.txt").write_text("1 30\n", encoding="utf-8")
    with pytest.raises(AimCLRError, match=r"indices must lie in \[0, 30\) .* got \[30\]"):
        read_index_file(tmp_path / "far.txt", recording)
    (tmp_path / "empty.txt").write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(AimCLRError, match="lists no sequences"):
        read_index_file(tmp_path / "empty.txt", recording)
    np.save(tmp_path / "obj.npy", np.array([1, None], dtype=object), allow_pickle=True)
    with pytest.raises(AimCLRError, match="holds Python objects") as caught:
        read_index_file(tmp_path / "obj.npy", recording)
    assert "allow_pickle" not in str(caught.value)
    (tmp_path / "all.txt").write_text(" ".join(str(i) for i in range(30)), encoding="utf-8")
    with pytest.raises(AimCLRError, match="leaves the training set empty: 0 training and 30"):
        split_by_index_file(recording, tmp_path / "all.txt")
    (tmp_path / "overlap.txt").write_text("3 4", encoding="utf-8")
    with pytest.raises(AimCLRError, match=r"1 sequences are listed both .* e\.g\. \[4\]"):
        split_by_index_file(recording, tmp_path / "test.npy", tmp_path / "overlap.txt")


def test_spec_strings(recording: RaggedSkeletons, tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("0 1 2", encoding="utf-8")
    cases = {
        "subject:1,2": split_by_subject(recording, [1, 2]),
        "Style: angry , 2": split_by_style(recording, ["angry", 2]),
        "key:views=0": split_by_key(recording, "views", [0]),
        "random:0.2,seed=4": split_random(recording, 0.2, seed=4),
        f"file:{tmp_path / 't.txt'}": split_by_index_file(recording, tmp_path / "t.txt"),
    }
    for text, expected in cases.items():
        got = parse_split(text).split(recording)
        assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True)), text
    assert parse_split("random:0.2", seed=4).split(recording)[1].tolist() == cases[
        "random:0.2,seed=4"][1].tolist()
    for bad, message in [
        ("subjects:1", r"unknown split kind 'subjects'"),
        ("subject:one", r"values must be integers, got \['one'\]"),
        ("random:1.5", r"test fraction must be a number in \(0, 1\), got '1\.5'"),
        ("random:0.2,seed=-1", r"only seed=N \(N >= 0\) may follow"),
        ("key:views", r"must read key:NAME=VALUE"),
        ("style:a,,b", r"has an empty value"),
        ("style", r"has no values after 'KIND:'"),
    ]:
        with pytest.raises(AimCLRError, match=message + r".*expected one of style:"):
            parse_split(bad)
    with pytest.raises(AimCLRError, match=r"split 'subject:1,2,3,4,5' = by test subjects "
                       r"\[1, 2, 3, 4, 5\] leaves the training set empty: 0 training and 30"):
        parse_split("subject:1,2,3,4,5").split(recording)
    with pytest.raises(AimCLRError, match=r"split 'key:setup=1': these sequences have no "
                       "per-sequence key 'setup'"):
        parse_split("key:setup=1").split(recording)


def test_check_split() -> None:
    check_split(np.array([0]), np.array([1]), "x")
    with pytest.raises(AimCLRError, match=r"split mine leaves the test set empty: 4 training and "
                       "0 test sequences"):
        check_split(np.arange(4), np.array([], dtype=int), "mine")


@pytest.mark.skipif(not BANDAI.is_file(), reason=f"real data not present at {BANDAI}")
def test_bandai2_splits() -> None:
    bandai = load_npz(BANDAI)
    names = parse_split("style:masculine,normal,youthful").split(bandai)
    indices = parse_split("style:4,5,6").split(bandai)
    assert all(np.array_equal(a, b) for a, b in zip(names, indices, strict=True))
    assert len(names[1]) == 379 + 465 + 401 and _is_partition(*names, 2902)
    _, test = parse_split("random:0.1,seed=0").split(bandai)
    per_class = Counter(bandai.labels[test].tolist())
    assert per_class[0] == 18 and per_class[7] == 43  # walk 175, raise-up-both-hands 434
    with pytest.raises(AimCLRError, match="no per-sequence key 'subjects'"):
        parse_split("subject:1").split(bandai)


@pytest.mark.parametrize("call", [
    lambda s: split_by_style(s, None), lambda s: split_by_key(s, "views", 1.5),
    lambda s: split_by_key(s, 3, [1]), lambda s: split_by_subject(s, "1,2"),
    lambda s: split_random(s, "0.2"), lambda s: split_random(s, 0.2, seed=-1),
    lambda s: split_random(np.zeros((2, 2), int), 0.5), lambda s: parse_split(None),
    lambda s: parse_split("random:0.5", seed=True), lambda s: parse_split("subject:1").split([1]),
    lambda s: read_index_file(None, s), lambda s: check_split(5, 5, "x"),
    lambda s: load_npz(BANDAI, nonfinite="zero"),
])  # fmt: skip
def test_hostile_split_arguments_are_clear_errors(recording: RaggedSkeletons, call: object) -> None:
    with pytest.raises(AimCLRError):
        call(recording)  # type: ignore[operator]
