"""Raw NTU RGB+D / PKU-MMD readers: values at the right (c, t, v, m), names, splits, errors.

The files are written here by hand in the published layouts (no real data).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aimclr.data.prepare import (
    NTU60_TRAINING_CAMERAS,
    NTU60_TRAINING_SUBJECTS,
    NTU120_TRAINING_SUBJECTS,
    PkuInstance,
    RawDataError,
    cut_instance,
    ntu_is_training,
    parse_ntu_name,
    parse_ntu_skeleton,
    parse_pku_video_name,
    pku_persons,
    read_ignore_list,
    read_ntu_skeleton,
    read_pku_frames,
    read_pku_labels,
    read_pku_split,
)
from aimclr.data.prepare.generate import format_ntu_skeleton, format_pku_frames
from aimclr.errors import AimCLRError

BODY = "72057594037931101 0 1 1 1 1 0 0.02764709 0.05745083 2"
TAIL = "0.41 0.20 1002.2 428.9 -0.25 0.02 0.96 -0.05 2"


def coordinate(t: int, m: int, j: int, c: int) -> float:
    """A value that says where it belongs: frame, body in the frame's list, joint, axis."""
    return 1000.0 * t + 100.0 * m + j + 0.125 * c + 0.01


def ntu_lines(bodies_per_frame: list[int]) -> list[str]:
    """A .skeleton file written line by line; body m of frame t holds coordinate(t, m, ...)."""
    lines = [str(len(bodies_per_frame))]
    for t, count in enumerate(bodies_per_frame):
        lines.append(str(count))
        for m in range(count):
            lines += [BODY, "25"]
            lines += [" ".join(repr(coordinate(t, m, j, c)) for c in range(3)) + " " + TAIL
                      for j in range(25)]
    return lines


# ------------------------------------------------------------------------------ NTU
def test_ntu_values_land_at_c_t_v_m_and_bodies_fill_slots_by_position(tmp_path: Path) -> None:
    # Frame 1: two bodies; frame 2: three (the third is dropped); frame 3: none;
    # frame 4: one body, which takes slot 0 whatever its bodyID.
    path = tmp_path / "S003C002P008R001A042.skeleton"
    path.write_text("\n".join(ntu_lines([2, 3, 0, 1])) + "\n")
    skeleton = read_ntu_skeleton(path)
    assert skeleton.data.shape == (3, 4, 25, 2) and skeleton.data.dtype == np.float32
    assert skeleton.bodies.tolist() == [2, 3, 0, 1]
    assert skeleton.sample.name == path.name and skeleton.sample.label == 41
    expected = np.zeros((3, 4, 25, 2), dtype=np.float32)
    for t, count in enumerate([2, 3, 0, 1]):
        for m in range(min(count, 2)):
            for j in range(25):
                for c in range(3):
                    expected[c, t, j, m] = coordinate(t, m, j, c)
    np.testing.assert_array_equal(skeleton.data, expected)
    assert skeleton.data[2, 1, 7, 1] == np.float32(1000 + 100 + 7 + 0.25 + 0.01)


def test_ntu_values_are_parsed_in_float64_then_rounded_once() -> None:
    # float32(float64(text)): what the reference stores from its float64 array. Just
    # above the midpoint 1 + 2**-24 between two float32 values: float64 rounds it onto
    # the midpoint and float32 then rounds to even (1.0); one rounding to float32 would
    # give the float32 after 1.
    text = "1.000000059604644775390625000000000001"
    lines = ntu_lines([1])
    lines[4] = f"{text} -2.5e-3 7 {TAIL}"
    data, _ = parse_ntu_skeleton(lines)
    assert data[0, 0, 0, 0] == np.float32(1.0)
    assert data[1, 0, 0, 0] == np.float32(-0.0025) and data[2, 0, 0, 0] == 7.0


def test_ntu_crlf_line_ends_and_trailing_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_bytes(("\r\n".join(ntu_lines([1, 2])) + "\r\n\r\n  \r\n").encode())
    data = read_ntu_skeleton(path).data
    assert data[1, 1, 3, 1] == np.float32(coordinate(1, 1, 3, 1))


def test_ntu_name_parsing() -> None:
    sample = parse_ntu_name("S017C003P040R002A060.skeleton")
    assert (sample.setup, sample.camera, sample.subject, sample.replication, sample.action) == (
        17, 3, 40, 2, 60)
    assert parse_ntu_name("S032C001P106R001A120") == parse_ntu_name("S032C001P106R001A120"
                                                                     ".skeleton")
    for bad in ("S001C001P001R001A01.skeleton", "s001C001P001R001A001.skeleton",
                "S001C000P001R001A001.skeleton", "S001C001P001R001A001.txt", "README"):
        with pytest.raises(RawDataError, match="unparsable file name: expected SsssCccc"):
            parse_ntu_name(bad)


@pytest.mark.parametrize(
    ("edit", "line", "message"),
    [
        # Truncated in the middle of the second body's joints.
        (lambda lines: lines[:40], 41, "the file ends where the joints of body 2 of frame 1"),
        # Non-numeric y of joint 3 of body 1, frame 1 (line 1 count, 2 bodies, 3 values, 4 n).
        (lambda lines: [*lines[:6], "0.1 abc 0.3 " + TAIL, *lines[7:]], 7,
         "non-numeric value 'abc' in x, y, z of joint 3 of body 1 of frame 1"),
        (lambda lines: [*lines[:6], "0.1 0.2", *lines[7:]], 7,
         "expected at least 3 numbers"),
        (lambda lines: [*lines[:3], "24", *lines[4:]], 4,
         r"expected 25 joints \(Kinect v2\) for body 1 of frame 1, got 24"),
        # Body count 3 in frame 1 but two bodies follow: frame 2's body count line is
        # read as body 3's values and frame 2's body line as its joint count.
        (lambda lines: [lines[0], "3", *lines[2:]], 58,
         "the joint count of body 3 of frame 1 .one integer., got '72057594037931101"),
        # Body count 1 in the last frame but two bodies follow.
        (lambda lines: [*lines[:56], "1", *lines[57:]], 85,
         "unexpected text after the 2 frames announced on line 1"),
        (lambda lines: ["two", *lines[1:]], 1, "expected the frame count"),
        (lambda lines: [lines[0], "-1", *lines[2:]], 2, "the body count of frame 1 >= 0"),
    ],
)
def test_ntu_malformed_files_name_file_and_line(
    tmp_path: Path, edit: object, line: int, message: str
) -> None:
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_text("\n".join(edit(ntu_lines([2, 2]))) + "\n")  # type: ignore[operator]
    with pytest.raises(RawDataError, match=message) as info:
        read_ntu_skeleton(path)
    assert info.value.line == line and info.value.path == str(path)
    assert str(info.value).startswith(f"{path}, line {line}: ")


def test_ntu_zero_frames_and_bad_max_bodies() -> None:
    data, bodies = parse_ntu_skeleton(["0"])
    assert data.shape == (3, 0, 25, 2) and bodies.shape == (0,)
    with pytest.raises(AimCLRError, match="max_bodies must be an integer >= 1"):
        parse_ntu_skeleton(["0"], max_bodies=0)


def test_generated_ntu_text_round_trips() -> None:
    rng = np.random.default_rng(0)
    frames = [[rng.normal(size=(25, 3)) for _ in range(m)] for m in (1, 2, 0, 3)]
    data, bodies = parse_ntu_skeleton(format_ntu_skeleton(frames).splitlines())
    assert bodies.tolist() == [1, 2, 0, 3]
    expected = np.zeros((3, 4, 25, 2), dtype=np.float32)
    for t, frame in enumerate(frames):
        for m, body in enumerate(frame[:2]):
            expected[:, t, :, m] = np.array([[float(f"{v:.7g}") for v in row] for row in body]).T
    np.testing.assert_array_equal(data, expected)


def test_ignore_list(tmp_path: Path) -> None:
    path = tmp_path / "missing.txt"
    path.write_text("S001C002P005R002A008\n\n  S001C002P006R001A008.skeleton \n")
    assert read_ignore_list(path) == {"S001C002P005R002A008.skeleton",
                                      "S001C002P006R001A008.skeleton"}
    with pytest.raises(RawDataError, match="ignore list not found"):
        read_ignore_list(tmp_path / "nope.txt")


# ------------------------------------------------------------------------------ splits
def test_benchmark_membership() -> None:
    issue_ntu120 = {1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38,
                    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82,
                    83, 84, 85, 86, 89, 91, 92, 93, 94, 95, 97, 98, 100, 103}
    issue_ntu60 = {1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38}
    assert issue_ntu120 == NTU120_TRAINING_SUBJECTS
    assert issue_ntu60 == NTU60_TRAINING_SUBJECTS
    assert {2, 3} == NTU60_TRAINING_CAMERAS
    for subject in range(1, 107):
        sample = parse_ntu_name(f"S001C001P{subject:03d}R001A001")
        assert ntu_is_training(sample, "ntu120", "xsub") == (subject in issue_ntu120)
        if subject <= 40:
            assert ntu_is_training(sample, "ntu60", "xsub") == (subject in
                                                                NTU60_TRAINING_SUBJECTS)
    for camera in (1, 2, 3):
        sample = parse_ntu_name(f"S001C{camera:03d}P001R001A001")
        assert ntu_is_training(sample, "ntu60", "xview") == (camera != 1)
    for setup in range(1, 33):
        sample = parse_ntu_name(f"S{setup:03d}C001P001R001A001")
        assert ntu_is_training(sample, "ntu120", "xset") == (setup % 2 == 0)
    with pytest.raises(AimCLRError, match="unknown NTU benchmark 'ntu60'/'xset'"):
        ntu_is_training(sample, "ntu60", "xset")


# ------------------------------------------------------------------------------ PKU
def test_pku_video_names_and_sample_names() -> None:
    video = parse_pku_video_name("0002-L.txt", 1)
    assert (video.name, video.numbers, video.view, video.official) == ("0002-L", (2,), "L", True)
    assert video.sample_name(5, 12) == "F002V001C005L012.skeleton"
    assert parse_pku_video_name("0364-R", 1).sample_name(51, 1) == "F364V003C051L001.skeleton"
    assert not parse_pku_video_name("0001-M.txt", 1).official
    video = parse_pku_video_name("A07N13-M.txt", 2)
    assert video.sample_name(41, 3) == "A007N013V002C041L003.skeleton" and video.official
    assert not parse_pku_video_name("A27N01-M.txt", 2).official
    with pytest.raises(RawDataError, match="unparsable file name for PKU-MMD Part 1"):
        parse_pku_video_name("A01N01-L.txt", 1)
    with pytest.raises(RawDataError, match="Part 2: expected A01N01-L"):
        parse_pku_video_name("0002-X.txt", 2)


def test_pku_labels(tmp_path: Path) -> None:
    path = tmp_path / "0002-L.txt"
    path.write_text("13,40,90,1\n\n7, 91, 91 ,2\n41.0,100,160.0\n")
    assert read_pku_labels(path) == [
        PkuInstance(13, 40, 90, 1.0, 1, 1), PkuInstance(7, 91, 91, 2.0, 2, 3),
        PkuInstance(41, 100, 160, None, 3, 4)]
    for text, message in [("13,40\n", "expected label,start,end,confidence"),
                          ("13,4x,90,1\n", "non-numeric value"),
                          ("13,40.5,90,1\n", "whole numbers"),
                          ("13,0,90,1\n", "1 <= start <= end"),
                          ("13,91,90,1\n", "1 <= start <= end"),
                          ("0,40,90,1\n", "class >= 1")]:
        path.write_text("1,1,2,1\n" + text)
        with pytest.raises(RawDataError, match=message) as info:
            read_pku_labels(path)
        assert info.value.line == 2


def test_pku_split_file(tmp_path: Path) -> None:
    path = tmp_path / "cross-view.txt"
    path.write_text("Training videos: \n0002-L, 0002-R,0003-L ,\nValidataion videos: \n0002-M\n")
    assert read_pku_split(path) == (["0002-L", "0002-R", "0003-L"], ["0002-M"])
    path.write_text("Training videos:\n0002-L\n")
    with pytest.raises(RawDataError, match="expected 4 lines"):
        read_pku_split(path)
    with pytest.raises(RawDataError, match="split file not found"):
        read_pku_split(tmp_path / "cross-subject.txt")


def test_pku_frames_persons_and_instance_cutting(tmp_path: Path) -> None:
    # Frame t, person p, joint j, axis c holds 1000 t + 100 p + j + 0.125 c + 0.01.
    values = np.array([[[[coordinate(t, p, j, c) for c in range(3)] for j in range(25)]
                        for p in range(2)] for t in range(6)])
    values[1, 1] = 0.0  # second person absent in frame 2
    values[4, 1] = 0.0
    values[4, 1, 0, 0], values[4, 1, 3, 2] = 0.5, -0.5  # present, but sums to 0
    path = tmp_path / "0002-L.txt"
    path.write_text(format_pku_frames(values, digits=17))
    frames = read_pku_frames(path)
    assert frames.shape == (6, 150) and frames.dtype == np.float64
    persons = pku_persons(frames)
    assert persons.shape == (3, 6, 25, 2) and persons.dtype == np.float32
    expected = values.transpose(3, 0, 2, 1).astype(np.float32)
    expected[:, 4, :, 1] = 0.0  # the reference drops a second person summing to 0
    np.testing.assert_array_equal(persons, expected)
    assert persons[2, 5, 24, 1] == np.float32(5000 + 100 + 24 + 0.25 + 0.01)

    # Frames 2..4, 1-based inclusive: rows 1, 2, 3.
    clip = cut_instance(frames, PkuInstance(9, 2, 4, 1.0, 1, 1))
    np.testing.assert_array_equal(clip, expected[:, 1:4])
    with pytest.raises(RawDataError, match="ends at frame 7 but the skeleton file has 6") as info:
        cut_instance(frames, PkuInstance(9, 2, 7, 1.0, 1, 5), "label.txt")
    assert (info.value.path, info.value.line) == ("label.txt", 5)


def test_pku_malformed_frames(tmp_path: Path) -> None:
    path = tmp_path / "0002-L.txt"
    good = " ".join(["0.5"] * 150)
    path.write_text(f"{good}\n{good}\n{' '.join(['0.5'] * 149)}\n")
    with pytest.raises(RawDataError, match=r"expected 150 numbers per frame .* got 149") as info:
        read_pku_frames(path)
    assert info.value.line == 3
    path.write_text(f"{good}\n\n{good.replace('0.5', 'x', 1)}\n")
    with pytest.raises(RawDataError, match="non-numeric value 'x'") as info:
        read_pku_frames(path)
    assert info.value.line == 3
    path.write_text(" ".join(["0.5"] * 149) + "\n")
    with pytest.raises(RawDataError, match="got 149"):
        read_pku_frames(path)
