"""Reference preprocessing: resize, centring, yaw alignment, layout conversion."""

from __future__ import annotations

import numpy as np
import pytest

from aimclr.data import (
    align_yaw,
    center_on_joint,
    pad_persons,
    preprocess_sample,
    resize_sequence,
    sequence_to_ctvm,
    valid_length,
)
from aimclr.errors import AimCLRError


def _resize_loop(x: np.ndarray, length: int, num_frames: int) -> np.ndarray:
    """Hand-written OpenCV INTER_LINEAR along axis 0 (half-pixel centres)."""
    out = np.zeros((num_frames, *x.shape[1:]))
    for i in range(num_frames):
        src = min(max((i + 0.5) * length / num_frames - 0.5, 0.0), length - 1)
        lo = int(np.floor(src))
        hi = min(lo + 1, length - 1)
        out[i] = x[lo] * (1 - (src - lo)) + x[hi] * (src - lo)
    return out


@pytest.mark.parametrize(
    ("length", "num_frames"), [(7, 50), (50, 50), (300, 50), (123, 17), (1, 5)]
)
def test_resize_matches_loop(length: int, num_frames: int) -> None:
    x = np.random.default_rng(length).normal(size=(length + 3, 25, 3)).astype(np.float32)
    out = resize_sequence(x, num_frames, length=length, axis=0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, _resize_loop(x, length, num_frames), atol=1e-6)


def test_resize_known_values_and_identity() -> None:
    assert resize_sequence(np.array([0.0, 1.0]), 4, axis=0).tolist() == [0.0, 0.25, 0.75, 1.0]
    # 4 -> 2 reads positions 0.5 and 2.5.
    assert resize_sequence(np.array([0.0, 1.0, 2.0, 3.0]), 2, axis=0).tolist() == [0.5, 2.5]
    x = np.random.default_rng(0).normal(size=(3, 50, 25, 2)).astype(np.float32)
    np.testing.assert_array_equal(resize_sequence(x, 50), x)


def test_resize_errors() -> None:
    x = np.zeros((3, 10, 25, 2))
    with pytest.raises(AimCLRError, match=r"length must be a frame count in \[1, 10\]"):
        resize_sequence(x, 50, length=11)
    with pytest.raises(AimCLRError, match="num_frames must be an integer >= 1"):
        resize_sequence(x, 0)
    with pytest.raises(AimCLRError, match="floating point"):
        resize_sequence(np.zeros((3, 10, 25, 2), dtype=np.int64), 5)


def test_center_on_joint_zeroes_joint_and_keeps_absent_zero() -> None:
    x = np.random.default_rng(1).normal(size=(2, 3, 6, 25, 2))
    x[..., 1] = 0.0  # absent second person
    out = center_on_joint(x)
    assert np.all(out[:, :, :, 20] == 0)
    assert np.all(out[..., 1] == 0)
    np.testing.assert_allclose(out[0, :, 2, 5, 0], x[0, :, 2, 5, 0] - x[0, :, 2, 20, 0], atol=1e-6)
    with pytest.raises(AimCLRError, match=r"joint must be an index in \[0, 25\)"):
        center_on_joint(x, joint=25)
    with pytest.raises(AimCLRError, match=r"layout \(C, T, V, M\) or \(N, C, T, V, M\)"):
        center_on_joint(np.zeros((3, 6, 25)))


def _rotate_y(x: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rotate (C, T, V, M) frame t by angles[t] about y."""
    c, s = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    return np.stack([c * x[0] + s * x[2], x[1], -s * x[0] + c * x[2]])


@pytest.mark.parametrize("base", [0.3, 2.0, -1.0, -2.5])
def test_align_yaw_puts_shoulders_on_x_and_keeps_lengths(base: float) -> None:
    rng = np.random.default_rng(2)
    x = center_on_joint(rng.normal(size=(3, 12, 25, 1)))
    x[:, :, 4, 0] = [[0.2], [0.0], [0.0]]  # left shoulder at +x, right at -x
    x[:, :, 8, 0] = [[-0.2], [0.0], [0.0]]
    # Turning body: yaw changes per frame but keeps one sign of v_z.
    angles = base + np.linspace(0.0, 0.4, 12) * np.sign(base)
    turned = _rotate_y(x, angles)
    out = align_yaw(turned)
    v = out[:, :, 8, 0] - out[:, :, 4, 0]
    np.testing.assert_allclose(v[2], 0.0, atol=1e-3)  # v_z ~ 0 (the 1e-4 in arccos)
    assert np.all(v[0] > 0.39)
    bones_in = np.linalg.norm(turned[:, :, 5] - turned[:, :, 4], axis=0)
    bones_out = np.linalg.norm(out[:, :, 5] - out[:, :, 4], axis=0)
    np.testing.assert_allclose(bones_out, bones_in, rtol=1e-5)
    np.testing.assert_allclose(out[1], turned[1], atol=1e-6)  # y untouched


def test_align_yaw_matches_formula_and_absent_person() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 5, 25, 2))
    x[..., 1] = 0.0
    out = align_yaw(x)
    v = x[:, :, 8, 0] - x[:, :, 4, 0]
    theta = np.arccos(v[0] / (np.hypot(v[0], v[2]) + 1e-4))
    if v[2].sum() >= 0:
        theta = -theta
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    expected_x = c * x[0, :, :, 0] - s * x[2, :, :, 0]
    expected_z = s * x[0, :, :, 0] + c * x[2, :, :, 0]
    np.testing.assert_allclose(out[0, :, :, 0], expected_x, atol=1e-5)
    np.testing.assert_allclose(out[2, :, :, 0], expected_z, atol=1e-5)
    assert np.all(out[..., 1] == 0)
    with pytest.raises(AimCLRError, match="C = 3"):
        align_yaw(np.zeros((2, 5, 25, 1)))


def test_sequence_conversion_and_padding() -> None:
    seq = np.arange(4 * 25 * 3, dtype=np.float32).reshape(4, 25, 3)
    out = sequence_to_ctvm(seq, num_persons=2)
    assert out.shape == (3, 4, 25, 2)
    assert out[1, 2, 7, 0] == seq[2, 7, 1]
    assert np.all(out[..., 1] == 0)
    two = sequence_to_ctvm(np.ones((4, 2, 25, 3)), num_persons=2)
    assert np.all(two == 1)
    with pytest.raises(AimCLRError, match="more than num_persons = 1"):
        pad_persons(np.zeros((3, 4, 25, 2)), 1)
    with pytest.raises(AimCLRError, match=r"\(T, V, C\) or \(T, M, V, C\)"):
        sequence_to_ctvm(np.zeros((4, 25)))


def test_preprocess_sample_chain() -> None:
    rng = np.random.default_rng(4)
    x = np.zeros((3, 300, 25, 2))
    x[:, :40] = rng.normal(size=(3, 40, 25, 2))
    assert valid_length(x) == 40
    out = preprocess_sample(x)
    expected = align_yaw(resize_sequence(center_on_joint(x), 50, length=40, axis=1))
    np.testing.assert_array_equal(out, expected)
    assert out.shape == (3, 50, 25, 2) and out.dtype == np.float32
    assert np.all(preprocess_sample(np.zeros((3, 10, 25, 2))) == 0)


def test_valid_length_reads_the_given_joint_of_the_given_person() -> None:
    # Joint 1 of person 0 is present for 37 frames, joint 0 of person 1 for 60 frames,
    # joint 0 of person 0 for 12: mixing up the joint and person axes would read another.
    x = np.zeros((3, 80, 25, 2))
    x[2, :37, 1, 0] = 0.5  # one non-zero coordinate is enough
    x[0, :60, 0, 1] = -1.0
    x[1, :12, 0, 0] = 2.0
    # Defaults: joint index 0 (NTU joint 1, spine-base) of person 0, as the reference's
    # get_length reads data[:, :, 0, 0].
    assert valid_length(x) == 12
    assert valid_length(x, joint=1, person=0) == 37
    assert valid_length(x, joint=0, person=1) == 60
    assert valid_length(x, joint=0, person=0) == 12
    assert valid_length(x, joint=1, person=1) == 0
    with pytest.raises(AimCLRError, match=r"person must be an index in \[0, 2\)"):
        valid_length(x, joint=1, person=2)
    with pytest.raises(AimCLRError, match=r"joint must be an index in \[0, 25\)"):
        valid_length(x, joint=25)
