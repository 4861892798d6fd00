"""Own recordings in the .npz format: layouts other than NTU, layout errors, NaN frames."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from aimclr import STGCN, AimCLRError
from aimclr.data import RaggedSkeletons, load_npz, make_synthetic_actions, parse_split
from aimclr.errors import AimCLRWarning
from aimclr.graph import KINECT_V1, LAYOUTS, NTU_RGBD, SkeletonLayout, adjacency, get_layout

# NTU joint of each Kinect v1 joint (the v1 shoulder centre is NTU spine-shoulder).
V1_IN_NTU = [20 if j == 2 else j for j in range(20)]


def _ntu_clips(num: int, seed: int = 3) -> tuple[list[np.ndarray], np.ndarray]:
    """Body motions in world coordinates, variable lengths, float16 as the shared files."""
    x, labels = make_synthetic_actions(num, seed=seed, num_frames=60, center=False)
    lengths = np.random.default_rng(seed).integers(30, 61, size=num)
    clips = [x[i, :, : lengths[i], :, 0].numpy().transpose(1, 2, 0).astype(np.float16)
             for i in range(num)]  # fmt: skip
    return clips, labels.numpy()


def _kinect_v1_file(
    folder: Path, num: int = 24, **extra: np.ndarray
) -> tuple[Path, RaggedSkeletons]:
    """A 20-joint Kinect v1 recording as a user would convert it, and its NTU source."""
    clips, labels = _ntu_clips(num)
    ntu = RaggedSkeletons.from_sequences(clips, labels, layout="ntu-rgb+d")
    v1 = ntu.to_layout("kinect-v1")
    path = folder / "kinect_v1.npz"
    content = {
        "data": v1.data, "offsets": v1.offsets, "labels": v1.labels,
        "class_names": np.array([f"action{i}" for i in range(12)]),
        "joint_names": np.array([n.upper() for n in KINECT_V1.joint_names]),
        "layout": np.array("kinect-v1"), "fps": np.array(30.0),
        "subjects": np.arange(num) % 4, "views": np.arange(num) % 3,
        "sequence_names": np.array([f"clip{i:03d}" for i in range(num)]),
    }  # fmt: skip
    content.update(extra)
    np.savez(path, **content)
    return path, ntu


def test_kinect_v1_layout_is_the_sdk_tree() -> None:
    assert get_layout("kinect-v1") is KINECT_V1 and get_layout("Kinect_V1") is KINECT_V1
    assert LAYOUTS["kinect-v1"] is KINECT_V1 and KINECT_V1.num_joints == 20
    assert len(KINECT_V1.edges) == 19  # a tree
    assert KINECT_V1.joint_names[KINECT_V1.center] == "shoulder_center"
    names = KINECT_V1.joint_names
    for left, right in KINECT_V1.flip_pairs:
        assert names[left].replace("left", "right") == names[right]
    assert [names[j] for j in KINECT_V1.shoulders or ()] == ["shoulder_left", "shoulder_right"]
    # head, arms and legs have NTU's names and indices (the spine differs in name only)
    assert names[3:] == NTU_RGBD.joint_names[3:20]
    assert adjacency(KINECT_V1).shape == (3, 20, 20)


def test_kinect_v1_recording_processed_on_its_own_layout(tmp_path: Path) -> None:
    path, ntu = _kinect_v1_file(tmp_path)
    v1 = load_npz(path)
    assert v1.layout is KINECT_V1 and v1.groups["views"].tolist()[:4] == [0, 1, 2, 0]
    assert v1.data.dtype == np.float16 and v1.sequence_names[1] == "clip001"
    np.testing.assert_array_equal(v1.data, ntu.data[:, V1_IN_NTU])  # selection is exact
    got = v1.to_array(num_frames=32, num_persons=1)
    assert got.shape == (24, 3, 32, 20, 1)
    assert np.all(got[:, :, :, 2] == 0)  # centred on the shoulder centre
    # the same motion processed on NTU (centre 20, shoulders 4 and 8) gives the same joints
    expected = ntu.to_array(num_frames=32, num_persons=1)[:, :, :, V1_IN_NTU]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    shoulders = got[:, :, :, 8, 0] - got[:, :, :, 4, 0]
    assert np.median(np.abs(shoulders[:, 2])) < 1e-3  # yaw-aligned on the v1 shoulders


def test_kinect_v1_npz_to_stgcn_end_to_end(tmp_path: Path) -> None:
    path, _ = _kinect_v1_file(tmp_path)
    skeletons = load_npz(path)
    train, test = parse_split("subject:3").split(skeletons)
    assert len(train) == 18 and len(test) == 6
    dataset = skeletons.select(train).to_dataset(num_frames=32, num_persons=1, align=False)
    x = torch.stack([dataset[i][0] for i in range(4)])
    assert x.shape == (4, 3, 32, 20, 1)
    torch.manual_seed(0)
    encoder = STGCN(skeletons.layout or "missing", hidden_channels=4, hidden_dim=16).eval()
    with torch.no_grad():
        features = encoder(x)
    assert features.shape == (4, 16) and bool(torch.isfinite(features).all())


def test_mapping_to_ntu_only_when_asked(tmp_path: Path) -> None:
    path, _ = _kinect_v1_file(tmp_path, num=6)
    v1 = load_npz(path)
    mapped = v1.to_layout("ntu-rgb+d")
    assert mapped.layout is NTU_RGBD and mapped.data.shape[1:] == (25, 3)
    assert mapped.joint_names == NTU_RGBD.joint_names
    data = mapped.data.astype(np.float32)
    v1_data = v1.data.astype(np.float32)
    neck = (v1_data[:, 2] + v1_data[:, 3]) / 2
    np.testing.assert_allclose(data[:, 2], neck, atol=2e-3)  # float16 storage
    np.testing.assert_array_equal(data[:, 20], v1_data[:, 2])
    np.testing.assert_array_equal(data[:, 21], v1_data[:, 7])  # hand tip repeats the hand
    assert mapped.to_array(num_frames=8).shape == (6, 3, 8, 25, 2)
    with pytest.raises(AimCLRError, match=r"no built-in joint mapping from layout 'kinect-v1'"):
        v1.to_layout("coco-17")
    with pytest.raises(AimCLRError, match=r"for each of the 25 joints of layout 'ntu-rgb\+d'"):
        v1.to_layout("ntu-rgb+d", mapping=[(0,)] * 24)
    own = v1.to_layout("ntu-rgb+d", mapping=[(j % 20,) for j in range(25)])
    np.testing.assert_array_equal(own.data[:, 22], v1.data[:, 2])


def test_layout_errors_name_the_layout_and_centre(tmp_path: Path) -> None:
    path, _ = _kinect_v1_file(tmp_path, num=4, layout=np.array("ntu-rgb+d"),
                              joint_names=np.array(KINECT_V1.joint_names))
    with pytest.raises(AimCLRError, match=r"kinect_v1\.npz'.*layout 'ntu-rgb\+d' has 25 joints "
                       r"\(centre joint 20 \(spine_shoulder\)\), but data has V = 20"):
        load_npz(path)
    path, _ = _kinect_v1_file(tmp_path, num=4, layout=np.array("my-rig"),
                              joint_names=np.array([f"j{i}" for i in range(20)]))
    with pytest.raises(AimCLRError, match=r"declares layout 'my-rig' \(20 joints\), which is not "
                       r"built in \(built-in layouts: \['coco-17', 'kinect-v1'.*SkeletonLayout"):
        load_npz(path)
    rig = SkeletonLayout.from_edges("my-rig", 20, [(j, j + 1) for j in range(19)], center=0,
                                    shoulders=(3, 7))
    custom = load_npz(path, layout=rig)
    assert custom.layout is rig and custom.to_array(num_frames=4).shape == (4, 3, 4, 20, 2)
    with pytest.warns(AimCLRWarning, match="20 joint names differ from layout 'kinect-v1'"):
        named_v1 = load_npz(path, layout="kinect-v1")
    with pytest.raises(AimCLRError, match=r"center_joint = 20 is not a joint index of layout "
                       r"'kinect-v1' \(its centre joint is 2 \(shoulder_center\)\): "
                       r"expected an index in \[0, 20\), 'layout' or None"):
        named_v1.to_array(center_joint=20)
    with pytest.raises(AimCLRError, match=r"layout 'coco-17' has 17 joints \(centre joint 0 "
                       r"\(nose\)\), but data has V = 20"):
        load_npz(path, layout="coco-17")


def test_layout_found_by_joint_names_or_warned(tmp_path: Path) -> None:
    path, _ = _kinect_v1_file(tmp_path, num=4, layout=np.array("kinect_for_windows_v1"))
    with pytest.warns(AimCLRWarning, match=r"equal those of 'kinect-v1' in order"):
        assert load_npz(path).layout is KINECT_V1
    names = list(KINECT_V1.joint_names)
    names[4], names[8] = names[8], names[4]  # a file that stores the sides swapped
    path, _ = _kinect_v1_file(tmp_path, num=4, joint_names=np.array(names))
    with pytest.warns(AimCLRWarning, match=r"2 joint names differ from layout 'kinect-v1' "
                      r"\(4: 'shoulder_right' vs 'shoulder_left'"):
        load_npz(path)
    bare = {"data": np.zeros((6, 20, 3), np.float32), "offsets": np.array([0, 2, 6]),
            "labels": np.array([0, 1])}
    np.savez(tmp_path / "bare.npz", **bare)
    with pytest.warns(AimCLRWarning, match="no 'layout' key .* none is assumed"):
        unknown = load_npz(tmp_path / "bare.npz")
    assert unknown.layout is None
    with pytest.raises(AimCLRError, match=r"20-joint sequences have no layout, so their centre "
                       r"joint is unknown; give a layout \(load_npz\(path, layout=\.\.\.\)"):
        unknown.to_array()
    assert unknown.to_array(center_joint=None, align=False, num_frames=3).shape == (2, 3, 3, 20, 2)
    assert load_npz(tmp_path / "bare.npz", layout="kinect-v1").layout is KINECT_V1


def test_nonfinite_frames_refused_or_dropped(tmp_path: Path) -> None:
    clips, labels = _ntu_clips(5)
    clips[1][3:5, 7] = np.nan
    clips[4][0, 0, 1] = np.inf
    ragged = RaggedSkeletons.from_sequences(clips, labels, layout="ntu-rgb+d",
                                            sequence_names=[f"c{i}" for i in range(5)])
    assert ragged.nonfinite_frames().tolist() == [0, 2, 0, 0, 1]
    np.savez(tmp_path / "nan.npz", data=ragged.data, offsets=ragged.offsets, labels=labels,
             layout=np.array("ntu-rgb+d"), sequence_names=np.array(ragged.sequence_names))
    with pytest.raises(AimCLRError, match=r"nan\.npz': 3 frames of 2 sequences hold NaN or "
                       r"infinite coordinates: sequence 1 'c1' \(2 of \d+ frames\), sequence 4 "
                       r"'c4' \(1 of \d+ frames\)\. .*nonfinite='drop'"):
        load_npz(tmp_path / "nan.npz")
    with pytest.warns(AimCLRWarning, match=r"these 2 sequences are left out .* 3 remain"):
        kept = load_npz(tmp_path / "nan.npz", nonfinite="drop")
    assert kept.sequence_names == ("c0", "c2", "c3") and np.isfinite(kept.to_array()).all()
    with pytest.raises(AimCLRError, match=r"nonfinite must be 'error' or 'drop', got 'zero'"):
        load_npz(tmp_path / "nan.npz", nonfinite="zero")  # type: ignore[arg-type]
    with pytest.raises(AimCLRError, match=r"3 frames of 2 sequences hold NaN"):
        ragged.to_array()  # in-memory data is checked where it becomes a dataset


def test_in_memory_sequences_keep_the_ntu_default() -> None:
    clips, labels = _ntu_clips(3)
    ragged = RaggedSkeletons.from_sequences(clips, labels)
    assert ragged.layout is NTU_RGBD
    x = ragged.to_array(num_frames=10)
    assert np.all(x[:, :, :, 20] == 0)
    short = RaggedSkeletons.from_sequences([c[:, :20] for c in clips], labels)
    assert short.layout is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a layout given in code is trusted silently
        named = RaggedSkeletons.from_sequences([c[:, :20] for c in clips], labels,
                                               layout="kinect-v1")
    assert named.select([2, 0]).layout is KINECT_V1


@pytest.mark.parametrize("call", [
    lambda s: s.select(5), lambda s: s.select([[0, 1]]), lambda s: s.values_of(["views"]),
    lambda s: s.to_layout("ntu-rgb+d", mapping=5), lambda s: s.to_array(center_joint="top"),
    lambda s: s.to_array(center_joint=np.zeros(2)), lambda s: s.to_array(left="a"),
    lambda s: s.to_array(right=20), lambda s: s.to_layout("smpl"),
    lambda s: RaggedSkeletons.from_sequences([s.sequence(0)], [0], groups=[1]),
    lambda s: RaggedSkeletons.from_sequences([s.sequence(0)], [0], joint_names="abc"),
    lambda s: RaggedSkeletons(list(s.data), s.offsets, s.labels),
    lambda s: SkeletonLayout.from_edges("x", 2, [(0, 1)], 0, shoulders=5),
    lambda s: SkeletonLayout.from_edges("x", 2, [(0, 1)], 0, joint_names=["a"]),
    lambda s: load_npz(7), lambda s: load_npz("missing.npz"),
])  # fmt: skip
def test_hostile_arguments_are_clear_errors(call: object) -> None:
    clips, labels = _ntu_clips(2)
    skeletons = RaggedSkeletons.from_sequences([c[:, :20] for c in clips], labels,
                                               layout="kinect-v1")
    with pytest.raises(AimCLRError):
        call(skeletons)  # type: ignore[operator]
