"""Exact values of the functional transforms against hand-written numpy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aimclr import AimCLRError
from aimclr.graph import NTU_RGBD, SkeletonLayout
from aimclr.transforms import (
    axis_mask,
    crop_index,
    gaussian_blur,
    gaussian_kernel1d,
    gaussian_noise,
    rotate,
    rotation_matrix,
    shear,
    shear_matrix,
    spatial_flip,
    temporal_crop,
    temporal_flip,
)

LAYOUT_MSG = r"\(N, C, T, V, M\) or \(C, T, V, M\)"


def sample(seed: int = 0, shape: tuple[int, ...] = (3, 50, 25, 2)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# --- numpy references, written from the specification (one sample (C, T, V, M)) ---


def np_crop(x: np.ndarray, start: int, pad: int) -> np.ndarray:
    t = x.shape[1]
    if pad == 0:
        return x.copy()
    padded = np.concatenate([x[:, :pad][:, ::-1], x, x[:, -pad:][:, ::-1]], axis=1)
    return padded[:, start : start + t]


def np_linear(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    # rows of (T, V, M, C) times m.T == column vectors times m
    return np.transpose(np.transpose(x, (1, 2, 3, 0)) @ m.T, (3, 0, 1, 2))


def np_rotate(x: np.ndarray, angles: np.ndarray) -> np.ndarray:
    out = x
    for axis, a in enumerate(angles):
        c, s = math.cos(a), math.sin(a)
        r = [
            np.array([[1, 0, 0], [0, c, s], [0, -s, c]]),
            np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]]),
            np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]]),
        ][axis]
        out = np_linear(out, r)
    return out


def np_blur(x: np.ndarray, sigma: float, size: int, normalize: bool) -> np.ndarray:
    k = np.arange(size) - size // 2
    w = np.exp(-(k**2) / (2 * sigma**2))
    if normalize:
        w = w / w.sum()
    half = size // 2
    t = x.shape[1]
    padded = np.zeros((x.shape[0], t + 2 * half, *x.shape[2:]))
    padded[:, half : half + t] = x
    out = np.zeros_like(x)
    for i in range(t):
        for j in range(size):
            out[:, i] += w[j] * padded[:, i + j]
    return out


# --- crop ---


def test_crop_index_matches_spec_example() -> None:
    # T = 50, pad = 8: padded = frames 7..0, 0..49, 49..42.
    padded = [*range(7, -1, -1), *range(50), *range(49, 41, -1)]
    for start in (0, 3, 8, 16):
        index = crop_index(torch.tensor([start]), 8, 50)[0].tolist()
        assert index == padded[start : start + 50]


@pytest.mark.parametrize("start", [0, 1, 7, 8, 15, 16])
def test_temporal_crop_matches_numpy(start: int) -> None:
    x = sample(1)
    out = temporal_crop(x, torch.tensor(start), pad=8)
    np.testing.assert_array_equal(out.numpy(), np_crop(x.numpy(), start, 8))


def test_temporal_crop_batched_equals_per_sample() -> None:
    x = sample(2, (4, 3, 10, 5, 2))
    start = torch.tensor([0, 2, 3, 6])
    out = temporal_crop(x, start, pad=3)
    for i in range(4):
        assert torch.equal(out[i], temporal_crop(x[i], start[i], pad=3))
        np.testing.assert_array_equal(out[i].numpy(), np_crop(x[i].numpy(), int(start[i]), 3))


def test_temporal_crop_pad_equal_to_t_and_zero() -> None:
    x = sample(3, (1, 4, 2, 1))
    # pad = T mirrors the whole sequence: start 0 gives the reversed frames.
    assert torch.equal(temporal_crop(x, torch.tensor(0), pad=4), x.flip(1))
    assert torch.equal(temporal_crop(x, torch.tensor(0), pad=0), x)


def test_temporal_crop_errors() -> None:
    x = sample(0, (3, 5, 4, 1))
    with pytest.raises(AimCLRError, match=r"T >= 6, got shape \(3, 5, 4, 1\)"):
        temporal_crop(x, torch.tensor(0), pad=6)
    with pytest.raises(AimCLRError, match=r"start must lie in \[0, 2 \* pad\] = \[0, 4\]"):
        temporal_crop(x, torch.tensor(5), pad=2)
    with pytest.raises(AimCLRError, match=r"start must have shape \(\) = \(\)"):
        temporal_crop(x, torch.tensor([1]), pad=2)
    with pytest.raises(AimCLRError, match=r"start must be a integer tensor"):
        temporal_crop(x, torch.tensor(1.0), pad=2)


# --- shear / rotate ---


def test_shear_matrix_layout() -> None:
    m = shear_matrix(torch.tensor([1.0, 2, 3, 4, 5, 6]))
    assert m.tolist() == [[1, 1, 2], [3, 1, 4], [5, 6, 1]]


def test_shear_matches_numpy_and_keeps_zeros() -> None:
    x = sample(4, (2, 3, 6, 5, 2))
    x[:, :, :, :, 1] = 0.0
    factors = torch.rand(2, 6, dtype=torch.float64) - 0.5
    m = shear_matrix(factors)
    out = shear(x, m)
    for i in range(2):
        np.testing.assert_allclose(out[i].numpy(), np_linear(x[i].numpy(), m[i].numpy()),
                                   rtol=1e-12, atol=1e-12)
    assert torch.equal(out[..., 1], torch.zeros_like(out[..., 1]))


def test_rotation_matrix_composition_order() -> None:
    angles = torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64)
    x = sample(5, (3, 4, 3, 1))
    out = rotate(x, rotation_matrix(angles))
    np.testing.assert_allclose(out.numpy(), np_rotate(x.numpy(), angles.numpy()), atol=1e-12)
    r = rotation_matrix(angles)
    np.testing.assert_allclose((r @ r.T).numpy(), np.eye(3), atol=1e-12)
    assert math.isclose(float(torch.linalg.det(r)), 1.0, abs_tol=1e-12)


def test_rotation_about_x_uses_reference_sign() -> None:
    # Rx = [[1,0,0],[0,c,s],[0,-s,c]]: (0, 1, 0) -> (0, c, -s).
    r = rotation_matrix(torch.tensor([math.pi / 2, 0.0, 0.0], dtype=torch.float64))
    np.testing.assert_allclose((r @ torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)).numpy(),
                               [0.0, 0.0, -1.0], atol=1e-12)


@pytest.mark.parametrize("fn", [shear, rotate])
def test_coordinate_maps_need_three_channels(fn) -> None:  # type: ignore[no-untyped-def]
    x = torch.zeros(2, 2, 5, 4, 1)
    with pytest.raises(AimCLRError, match=LAYOUT_MSG + r" with C = 3, got shape \(2, 2, 5, 4, 1\)"):
        fn(x, torch.eye(2).expand(2, 2, 2))


def test_matrix_shape_is_not_broadcast() -> None:
    x = torch.zeros(2, 3, 5, 4, 1)
    with pytest.raises(AimCLRError, match=r"matrix must have shape \(N, C, C\) = \(2, 3, 3\)"):
        shear(x, torch.eye(3))
    with pytest.raises(AimCLRError, match=r"matrix must have shape \(N, C, C\) = \(2, 3, 3\)"):
        shear(x, torch.eye(3).expand(1, 3, 3))


# --- flips, axis mask ---


def test_ntu_flip_index_is_the_reference_permutation() -> None:
    expected = [0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 16, 17, 18, 19, 12, 13, 14, 15, 20,
                23, 24, 21, 22]
    assert NTU_RGBD.flip_index() == expected
    x = sample(6)
    out = spatial_flip(x, torch.tensor(True))
    assert torch.equal(out, x[:, :, expected])
    assert torch.equal(spatial_flip(x, torch.tensor(False)), x)


def test_spatial_flip_mirror_negates_one_channel_of_flipped_samples() -> None:
    x = sample(7, (2, 3, 4, 25, 1))
    out = spatial_flip(x, torch.tensor([True, False]), mirror=0)
    perm = NTU_RGBD.flip_index()
    assert torch.equal(out[0, 0], -x[0, 0][:, perm])
    assert torch.equal(out[0, 1:], x[0, 1:][:, :, perm])
    assert torch.equal(out[1], x[1])


def test_spatial_flip_layout_mismatch() -> None:
    with pytest.raises(AimCLRError, match=r"V = 25 joints, got shape \(3, 4, 17, 2\)"):
        spatial_flip(torch.zeros(3, 4, 17, 2), torch.tensor(True))


def test_temporal_flip_and_axis_mask() -> None:
    x = sample(8, (3, 3, 6, 4, 2))
    out = temporal_flip(x, torch.tensor([True, False, True]))
    assert torch.equal(out[0], x[0].flip(1)) and torch.equal(out[1], x[1])
    mask = torch.tensor([[False, True, False], [False, False, False], [True, False, False]])
    out = axis_mask(x, mask)
    assert torch.equal(out[0, 1], torch.zeros_like(out[0, 1]))
    assert torch.equal(out[0, [0, 2]], x[0, [0, 2]])
    assert torch.equal(out[1], x[1])
    assert torch.equal(out[2, 0], torch.zeros_like(out[2, 0]))


def test_axis_mask_any_channel_count_and_nan() -> None:
    x = torch.full((5, 2, 1, 1), float("nan"))
    out = axis_mask(x, torch.tensor([False, False, True, False, False]))
    assert torch.equal(out[2], torch.zeros_like(out[2]))  # a true zero, not 0 * nan
    assert out[[0, 1, 3, 4]].isnan().all()


# --- noise / blur ---


def test_gaussian_noise_masked() -> None:
    x = sample(9, (2, 3, 4, 5, 2))
    noise = sample(10, (2, 3, 4, 5, 2))
    out = gaussian_noise(x, noise, torch.tensor([False, True]))
    assert torch.equal(out[0], x[0])
    assert torch.equal(out[1], x[1] + noise[1])
    assert torch.equal(gaussian_noise(x, noise), x + noise)
    with pytest.raises(AimCLRError, match=r"noise must have shape like x = \(2, 3, 4, 5, 2\)"):
        gaussian_noise(x, noise[:1])


def test_gaussian_kernel_values() -> None:
    w = gaussian_kernel1d(torch.tensor(1.0, dtype=torch.float64), 15, normalize=False)
    k = np.arange(-7, 8)
    np.testing.assert_allclose(w.numpy(), np.exp(-(k**2) / 2.0), rtol=1e-14)
    assert math.isclose(float(w.sum()), 2.5066, abs_tol=1e-4)  # the amplitude the spec quotes
    assert math.isclose(float(gaussian_kernel1d(torch.tensor(0.7), 15).sum()), 1.0, rel_tol=1e-6)
    with pytest.raises(AimCLRError, match="kernel_size must be a positive odd int, got 4"):
        gaussian_kernel1d(torch.tensor(1.0), 4)
    with pytest.raises(AimCLRError, match="sigma must be positive"):
        gaussian_kernel1d(torch.tensor(0.0), 5)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("sigma", [0.1, 1.0, 2.0])
def test_gaussian_blur_matches_numpy(normalize: bool, sigma: float) -> None:
    x = sample(11, (3, 20, 4, 2))
    out = gaussian_blur(x, torch.tensor(sigma, dtype=torch.float64), 15, normalize)
    np.testing.assert_allclose(out.numpy(), np_blur(x.numpy(), sigma, 15, normalize),
                               rtol=1e-10, atol=1e-12)


def test_gaussian_blur_batched_mask_and_short_sequences() -> None:
    x = sample(12, (3, 2, 3, 2, 1))  # T = 3 < kernel: all taps beyond are zero padding
    sigma = torch.tensor([0.5, 1.5, 1.0], dtype=torch.float64)
    out = gaussian_blur(x, sigma, 15, False, mask=torch.tensor([True, True, False]))
    for i in range(2):
        np.testing.assert_allclose(out[i].numpy(), np_blur(x[i].numpy(), float(sigma[i]), 15,
                                                           False), rtol=1e-10)
    assert torch.equal(out[2], x[2])


# --- common validation ---


@pytest.mark.parametrize(
    "call",
    [
        lambda x: shear(x, torch.eye(3)),
        lambda x: temporal_flip(x, torch.tensor(True)),
        lambda x: axis_mask(x, torch.zeros(3, dtype=torch.bool)),
    ],
)
def test_bad_rank_and_dtype(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AimCLRError, match=LAYOUT_MSG + r", got shape \(3, 50, 25\)"):
        call(torch.zeros(3, 50, 25))
    with pytest.raises(AimCLRError, match=r"floating tensor .* got shape \(3, 5, 4, 1\), dtype "
                                          r"torch.int64"):
        call(torch.zeros(3, 5, 4, 1, dtype=torch.int64))


def test_custom_layout_flip() -> None:
    lay = SkeletonLayout.from_edges("tri", 3, [(0, 1), (1, 2)], center=1, flip_pairs=[(0, 2)])
    x = torch.arange(6.0).reshape(1, 2, 3, 1)
    assert spatial_flip(x, torch.tensor(True), lay)[0, :, :, 0].tolist() == [[2, 1, 0], [5, 4, 3]]


def test_gaussian_blur_long_sequences_use_the_same_definition() -> None:
    # T > 128 takes the convolution path instead of the banded matrix product.
    x = sample(13, (2, 140, 2, 1))
    out = gaussian_blur(x, torch.tensor(1.3, dtype=torch.float64), 15, False)
    np.testing.assert_allclose(out.numpy(), np_blur(x.numpy(), 1.3, 15, False), rtol=1e-10,
                               atol=1e-12)
