"""Random transforms: distributions, reproducibility, dtypes, fusion and errors."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aimclr import AimCLRError
from aimclr.graph import NTU_RGBD, SkeletonLayout
from aimclr.transforms import (
    AimCLRViews,
    AxisMask,
    Compose,
    GaussianBlur,
    GaussianNoise,
    RandomApply,
    Rotate,
    Shear,
    SpatialFlip,
    TemporalCrop,
    TemporalFlip,
    Transform,
    axis_mask,
    extreme_view,
    gaussian_blur,
    gaussian_noise,
    normal_view,
    rotate,
    shear,
    spatial_flip,
    temporal_crop,
    temporal_flip,
)

N_DRAWS = 4000
LAYOUT_MSG = r"\(N, C, T, V, M\) or \(C, T, V, M\)"


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch(n: int = 8, t: int = 50, v: int = 25, m: int = 2, seed: int = 0,
          dtype: torch.dtype = torch.float32) -> torch.Tensor:
    x = torch.randn(n, 3, t, v, m, generator=gen(seed)).to(dtype)
    x[1:, :, :, :, -1] = 0.0
    return x


def draw(transform: Transform[Any], n: int = N_DRAWS, **shape: int) -> Any:
    x = batch(1, **shape).expand(n, -1, -1, -1, -1)
    return transform.sample_params(x, generator=gen(1))


def assert_frequency(hits: torch.Tensor, p: float) -> None:
    """The observed rate lies within 4 standard errors of ``p``."""
    rate = hits.double().mean().item()
    se = math.sqrt(p * (1 - p) / hits.numel())
    assert abs(rate - p) <= 4 * se + 1e-12, (rate, p)


# --- parameter distributions ---


def test_shear_factors_uniform_in_range() -> None:
    m = draw(Shear(0.5)).matrix
    off = m[:, ~torch.eye(3, dtype=torch.bool)]
    assert torch.equal(m.diagonal(dim1=1, dim2=2), torch.ones(N_DRAWS, 3, dtype=m.dtype))
    assert off.min() >= -0.5 and off.max() < 0.5
    assert abs(off.mean().item()) < 0.02
    assert abs(off.var().item() - 1 / 12) < 0.005  # var of U(-0.5, 0.5)


def test_rotate_reference_ranges() -> None:
    p = draw(Rotate(main_range=(0.0, 30.0), other_range=(0.0, 1.0)))
    degrees = p.angles * 180 / math.pi
    main = degrees.argmax(1)
    assert degrees.min() >= 0 and degrees.max() <= 30
    big = degrees > 1
    assert big.sum(1).le(1).all()  # at most one axis beyond 1°
    for axis in range(3):
        assert_frequency(main == axis, 1 / 3)
    # with the main axis at U(0, 30), P(main angle <= 1°) = 1/30
    assert_frequency(big.any(1), 29 / 30)
    torch.testing.assert_close(p.matrix @ p.matrix.transpose(1, 2),
                               torch.eye(3, dtype=torch.float64).expand(N_DRAWS, 3, 3))


def test_rotate_default_symmetric() -> None:
    degrees = draw(Rotate()).angles * 180 / math.pi
    assert degrees.min() >= -30 and degrees.max() <= 30 and degrees.min() < -20
    assert abs(degrees.mean().item()) < 1.0


def test_crop_start_uniform() -> None:
    p = draw(TemporalCrop(6))
    assert p.pad == 8
    counts = torch.bincount(p.start, minlength=17)
    assert counts.numel() == 17 and (counts > 0).all()
    for value in (0, 8, 16):
        assert_frequency(p.start == value, 1 / 17)


@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 1.0])
def test_coins(p: float) -> None:
    assert_frequency(draw(SpatialFlip(p=p)).flip, p)
    assert_frequency(draw(TemporalFlip(p=p)).flip, p)
    assert_frequency(draw(GaussianBlur(p=p)).mask, p)
    assert_frequency(draw(AxisMask(p=p)).mask.any(1), p)
    assert_frequency(draw(GaussianNoise(p=p), t=4, v=3).mask, p)


def test_axis_mask_one_uniform_channel() -> None:
    mask = draw(AxisMask(p=0.5)).mask
    assert mask.sum(1).le(1).all()
    applied = mask[mask.any(1)]
    for c in range(3):
        assert_frequency(applied[:, c], 1 / 3)


def test_blur_sigma_range() -> None:
    sigma = draw(GaussianBlur()).sigma
    assert sigma.min() >= 0.1 and sigma.max() <= 2.0
    assert abs(sigma.mean().item() - 1.05) < 0.03


def test_noise_statistics_include_absent_person() -> None:
    x = torch.zeros(200, 3, 10, 5, 2)
    out = GaussianNoise(std=0.01, p=1.0)(x, generator=gen(2))
    assert abs(out.std().item() - 0.01) < 2e-4 and abs(out.mean().item()) < 1e-4
    assert (out[..., 1] != 0).all()


# --- transform.apply equals the functional form with the drawn parameters ---


def functional_of(t: Transform[Any], x: torch.Tensor, p: Any) -> torch.Tensor:
    if isinstance(t, Shear):
        return shear(x, p.matrix)
    if isinstance(t, Rotate):
        return rotate(x, p.matrix)
    if isinstance(t, TemporalCrop):
        return temporal_crop(x, p.start, p.pad)
    if isinstance(t, TemporalFlip):
        return temporal_flip(x, p.flip)
    if isinstance(t, SpatialFlip):
        return spatial_flip(x, p.flip, t.layout, t.mirror)
    if isinstance(t, AxisMask):
        return axis_mask(x, p.mask)
    if isinstance(t, GaussianNoise):
        return gaussian_noise(x, p.full_noise(), p.mask)
    if isinstance(t, GaussianBlur):
        return gaussian_blur(x, p.sigma, t.kernel_size, t.normalize, p.mask)
    if isinstance(t, RandomApply):
        out = functional_of(t.transform, x, p.inner)
        return torch.where(p.mask.view(-1, 1, 1, 1, 1), out, x)
    assert isinstance(t, Compose)
    for inner, q in zip(t.transforms, p, strict=True):
        x = functional_of(inner, x, q)
    return x


ALL = [
    Shear(),
    Rotate(),
    Rotate((0.0, 30.0), (0.0, 1.0)),
    TemporalCrop(),
    TemporalCrop(padding=3),
    TemporalFlip(),
    SpatialFlip(),
    SpatialFlip(mirror=0),
    AxisMask(),
    GaussianNoise(),
    GaussianBlur(),
    GaussianBlur(normalize=False),
    RandomApply(Rotate(), p=0.5),
    RandomApply(Compose([GaussianBlur(p=1.0), TemporalCrop()]), p=0.5),
]


@pytest.mark.parametrize("t", ALL, ids=repr)
def test_apply_equals_functional(t: Transform[Any]) -> None:
    x = batch(16, t=20, dtype=torch.float64)
    p = t.sample_params(x, generator=gen(3))
    torch.testing.assert_close(t.apply(x, p), functional_of(t, x, p), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("t", ALL, ids=repr)
def test_single_sample_and_seed(t: Transform[Any]) -> None:
    x = batch(6, t=20)
    a, b, c = t(x, generator=gen(5)), t(x, generator=gen(5)), t(x, generator=gen(6))
    assert torch.equal(a, b)
    if not isinstance(t, RandomApply):
        assert not torch.equal(a, c)
    one = t(x[0], generator=gen(5))
    assert one.shape == x[0].shape
    # A single sample consumes the generator like a batch of one.
    torch.testing.assert_close(one, t(x[:1], generator=gen(5))[0])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtype_and_device_preserved(dtype: torch.dtype) -> None:
    x = batch(4, t=20, dtype=dtype)
    for out in AimCLRViews()(x, generator=gen(7)):
        assert out.dtype == dtype and out.device == x.device and out.shape == x.shape
    # Without noise (drawn in the compute dtype) every view matches float64 up to rounding.
    tol = {torch.float16: 2e-2, torch.bfloat16: 1e-1}.get(dtype, 1e-5)
    for view in (extreme_view("1245"), extreme_view("6"), normal_view()):
        out = view(x, generator=gen(8))
        expected = view(x.double(), generator=gen(8))
        assert out.dtype == dtype
        torch.testing.assert_close(out.double(), expected, rtol=tol, atol=tol * 5)


def test_views_of_non_contiguous_input() -> None:
    # Every frame of a longer recording, and a tensor stored (N, T, V, M, C).
    strided = torch.randn(8, 3, 60, 25, 2, generator=gen(20))[:, :, ::2]
    permuted = torch.randn(8, 30, 25, 2, 3, generator=gen(21)).permute(0, 4, 1, 2, 3)
    for x in (strided, permuted):
        assert not x.is_contiguous()
        got = AimCLRViews()(x, generator=gen(22))
        expected = AimCLRViews()(x.contiguous(), generator=gen(22))
        for a, b in zip(got, expected, strict=True):
            assert torch.equal(a, b)


def test_views_ignore_a_callers_autocast() -> None:
    # Views drawn inside a training loop's autocast region keep full precision.
    x = batch(8, t=20)
    plain = AimCLRViews()(x, generator=gen(19))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = AimCLRViews()(x, generator=gen(19))
        single = extreme_view()(x, generator=gen(19))
    for a, b in zip(plain, inside, strict=True):
        assert b.dtype == torch.float32 and torch.equal(a, b)
    assert torch.equal(single, extreme_view()(x, generator=gen(19)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_device_with_cpu_generator() -> None:
    x = batch(4, t=20).cuda()
    for out in AimCLRViews()(x, generator=gen(9)):
        assert out.is_cuda
    cpu = AimCLRViews("1245")(x.cpu(), generator=gen(9))
    gpu = AimCLRViews("1245")(x, generator=gen(9))
    for a, b in zip(cpu, gpu, strict=True):
        torch.testing.assert_close(a, b.cpu(), rtol=1e-4, atol=1e-4)


# --- fusion: one plan equals the transforms one by one ---


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("codes", [None, "12345", "123456", "6", "35", ""])
def test_fused_view_equals_separate_transforms(codes: str | None, dtype: torch.dtype) -> None:
    view = extreme_view(codes)
    x = batch(64, t=30, dtype=dtype)
    params = view.sample_params(x, generator=gen(10))
    fused = view.apply(x, params)
    separate = functional_of(view, x, params)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(fused, separate, rtol=tol, atol=tol)
    unfused = Compose(view.transforms, fuse=False)
    torch.testing.assert_close(unfused(x, generator=gen(10)), view(x, generator=gen(10)),
                               rtol=tol, atol=tol)


def test_fusion_handles_ops_after_noise_and_blur() -> None:
    # Joint flip, rotation, mirror and time flip after noise and blur; crop after noise.
    chain = [GaussianNoise(p=0.7), TemporalCrop(), GaussianBlur(p=0.7), SpatialFlip(mirror=0),
             Rotate(), TemporalFlip(), AxisMask()]
    x = batch(32, t=20, dtype=torch.float64)
    fused = Compose(chain)(x, generator=gen(11))
    torch.testing.assert_close(fused, Compose(chain, fuse=False)(x, generator=gen(11)),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fusion_with_several_joint_permutations(dtype: torch.dtype) -> None:
    # No crop: the matrix product writes the result and the joints move in place
    # (as packed integers for float32 with M = 2, by rows for float64).
    other = SkeletonLayout.from_edges("ntu-other", 25, NTU_RGBD.edges, center=20,
                                      flip_pairs=[(0, 1), (4, 5)])
    view = Compose([SpatialFlip(p=0.5), SpatialFlip(other, p=0.5), Shear()])
    x = batch(32, t=10, dtype=dtype)
    params = view.sample_params(x, generator=gen(15))
    torch.testing.assert_close(view.apply(x, params), functional_of(view, x, params))


@pytest.mark.parametrize("m", [1, 2, 3])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_fused_reindexing_is_exact_for_any_element_width(m: int, dtype: torch.dtype) -> None:
    # Joints move as one packed integer when M values fill 2, 4 or 8 bytes and by
    # a row gather otherwise (e.g. float32 M = 3, float64 M = 2): both are exact.
    chain = [TemporalCrop(), SpatialFlip(p=0.5), TemporalFlip(p=0.5)]
    x = torch.randn(16, 3, 12, 25, m, generator=gen(3)).to(dtype)
    x[0, 0, 0, 0, 0] = float("nan")  # moved bit for bit, wherever it lands
    view = Compose(chain)
    params = view.sample_params(x, generator=gen(16))
    fused, indexed = view.apply(x, params), functional_of(view, x, params)
    assert torch.equal(fused.view(-1).view(torch.uint8), indexed.view(-1).view(torch.uint8))


@pytest.mark.parametrize("codes", [None, "12345"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("fuse", [True, False])
def test_views_equal_each_view_in_turn(codes: str | None, dtype: torch.dtype, fuse: bool) -> None:
    # AimCLRViews runs its three plans together; the result must be the views
    # applied one after another with the same generator.
    x = batch(32, t=30, dtype=dtype)
    together = AimCLRViews(codes, fuse=fuse)(x, generator=gen(17))
    g = gen(17)
    in_turn = [extreme_view(codes)(x, generator=g), normal_view()(x, generator=g),
               normal_view()(x, generator=g)]
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    for a, b in zip(together, in_turn, strict=True):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def test_unfusable_chain_falls_back() -> None:
    chain = [GaussianBlur(p=1.0), TemporalCrop(), GaussianNoise(p=1.0), GaussianBlur(p=1.0)]
    x = batch(8, t=20, dtype=torch.float64)
    view = Compose(chain)
    params = view.sample_params(x, generator=gen(12))
    torch.testing.assert_close(view.apply(x, params), functional_of(view, x, params))


def test_blur_does_not_commute_with_crop() -> None:
    # Guards the fusion rule: swapping them changes the result.
    x = batch(4, t=20, dtype=torch.float64)
    sigma = torch.full((4,), 2.0, dtype=torch.float64)
    start = torch.zeros(4, dtype=torch.int64)
    a = temporal_crop(gaussian_blur(x, sigma), start, 3)
    b = gaussian_blur(temporal_crop(x, start, 3), sigma)
    assert not torch.allclose(a, b)


def test_views_are_plain_tensors_without_history() -> None:
    # Plans run in inference mode, but the views must be ordinary tensors a model can
    # train on (saved for backward, changed in place), even when x requires grad.
    x = batch(4, t=20).requires_grad_()
    outputs = [*AimCLRViews()(x, generator=gen(18)), extreme_view()(x, generator=gen(18)),
               Shear()(x, generator=gen(18)), AimCLRViews(fuse=False)(x, generator=gen(18))[0]]
    weight = torch.randn(2, 3, 1, 1, requires_grad=True)
    for out in outputs:
        assert not out.is_inference() and not out.requires_grad and out.grad_fn is None
        out.mul_(1.0)
        torch.nn.functional.conv2d(out.flatten(3), weight).square().sum().backward()
    assert weight.grad is not None and x.grad is None


def test_views_shapes_and_independence() -> None:
    x = batch(8)
    extreme, q, k = AimCLRViews("12345")(x, generator=gen(13))
    assert not torch.equal(q, k)
    assert extreme.shape == q.shape == k.shape == x.shape
    # normal views are crop + shear only: the absent person stays exactly zero
    assert torch.equal(q[1:, ..., 1], torch.zeros_like(q[1:, ..., 1]))


def test_preset_composition() -> None:
    names = [type(t).__name__ for t in extreme_view().transforms]
    assert names == ["TemporalCrop", "Shear", "SpatialFlip", "Rotate", "TemporalFlip",
                     "GaussianNoise", "GaussianBlur", "AxisMask"]
    names = [type(t).__name__ for t in extreme_view("654321").transforms]
    assert names == ["TemporalCrop", "Shear", "SpatialFlip", "Rotate", "GaussianNoise",
                     "GaussianBlur", "AxisMask", "TemporalFlip"]
    blur = extreme_view().transforms[6]
    assert isinstance(blur, GaussianBlur) and not blur.normalize
    rot = extreme_view().transforms[3]
    assert isinstance(rot, Rotate) and rot.main_range == (0.0, 30.0)
    assert [type(t).__name__ for t in normal_view().transforms] == ["TemporalCrop", "Shear"]


def _check_reference_parameters(t: Transform[Any]) -> None:
    """Spec §2: the reference value of every parameter of one extreme-view transform."""
    if isinstance(t, TemporalCrop):
        assert t.padding is None and t.ratio == 6
        assert t.pad_for(50) == 50 // 6 == 8
    elif isinstance(t, Shear):
        assert t.amplitude == 0.5
    elif isinstance(t, SpatialFlip):
        assert t.p == 0.5 and t.mirror is None  # joints swapped, coordinates not mirrored
        assert t.layout is NTU_RGBD
    elif isinstance(t, Rotate):
        assert t.main_range == (0.0, 30.0) and t.other_range == (0.0, 1.0)
    elif isinstance(t, TemporalFlip):
        assert t.p == 0.5
    elif isinstance(t, GaussianNoise):
        assert t.std == 0.01 and t.p == 0.5
    elif isinstance(t, GaussianBlur):
        assert t.kernel_size == 15 and t.sigma == (0.1, 2.0)
        assert t.p == 0.5 and t.normalize is False
    else:
        assert isinstance(t, AxisMask), t
        assert t.p == 0.5


@pytest.mark.parametrize("codes", [None, "12345", "123456"])
def test_extreme_view_uses_the_reference_parameters(codes: str | None) -> None:
    view = extreme_view(codes)
    expected = {None: 8, "12345": 7, "123456": 8}[codes]
    assert len(view.transforms) == expected
    for t in view.transforms:
        _check_reference_parameters(t)


def test_normal_view_defaults_crop_eight_frames_and_shear_half() -> None:
    crop, shear_t = normal_view().transforms
    _check_reference_parameters(crop)
    _check_reference_parameters(shear_t)
    assert draw(crop, t=50).pad == 50 // 6 == 8
    m = draw(shear_t).matrix
    off = m[:, ~torch.eye(3, dtype=torch.bool)]  # the six factors, U(-0.5, 0.5)
    assert off.min() >= -0.5 and off.max() <= 0.5
    # 24000 draws: P(no factor beyond 0.45) = 0.95 ** 24000, nil
    assert off.max() > 0.45 and off.min() < -0.45


# --- errors ---


@pytest.mark.parametrize("codes", ["7", "1a", "112", 12345])
def test_unknown_codes(codes: Any) -> None:
    with pytest.raises(AimCLRError, match=r"codes must be None or distinct digits from '123456'"):
        extreme_view(codes)


def test_transform_errors() -> None:
    with pytest.raises(AimCLRError, match=LAYOUT_MSG + r", got shape \(50, 25, 2\)"):
        Shear()(torch.zeros(50, 25, 2))
    expected = r"Shear needs C = 3 coordinates: x must have layout " + LAYOUT_MSG
    with pytest.raises(AimCLRError, match=expected + r" with C = 3, got shape \(2, 10, 25, 2\)"):
        Shear()(torch.zeros(2, 10, 25, 2))
    with pytest.raises(AimCLRError, match=r"needs C = 3 coordinates"):
        AimCLRViews()(torch.zeros(4, 2, 10, 25, 2))
    with pytest.raises(AimCLRError, match=r"T >= 10, got shape \(3, 5, 25, 2\)"):
        TemporalCrop(padding=10)(torch.zeros(3, 5, 25, 2))
    with pytest.raises(AimCLRError, match=r"dtype torch.int32"):
        AxisMask()(torch.zeros(3, 5, 25, 2, dtype=torch.int32))
    with pytest.raises(AimCLRError, match=r"V = 25 joints, got shape \(1, 3, 5, 18, 1\)"):
        SpatialFlip()(torch.zeros(1, 3, 5, 18, 1))
    with pytest.raises(AimCLRError, match=r"p must lie in \[0, 1\], got 1.5"):
        TemporalFlip(p=1.5)
    with pytest.raises(AimCLRError, match="kernel_size must be a positive odd int"):
        GaussianBlur(kernel_size=14)
    with pytest.raises(AimCLRError, match=r"mirror must be an int >= 0 \(a coordinate channel"):
        SpatialFlip(mirror=-1)
    with pytest.raises(AimCLRError, match=r"Compose takes aimclr\.transforms\.Transform"):
        Compose([lambda x: x])  # type: ignore[list-item]


def test_empty_batch_and_rotate_channels() -> None:
    x = torch.zeros(0, 3, 50, 25, 2)
    assert all(view.shape == x.shape for view in AimCLRViews()(x))
    with pytest.raises(AimCLRError, match=r"Rotate needs C = 3 .* got shape \(4, 2, 10, 25, 1\)"):
        Rotate()(torch.zeros(4, 2, 10, 25, 1))


def test_axis_mask_any_channel_count() -> None:
    x = torch.ones(500, 5, 2, 1, 1)
    out = AxisMask(p=1.0)(x, generator=gen(14))
    assert torch.equal(out.sum(1), torch.full((500, 2, 1, 1), 4.0))


# --- shapes fuzzed ---


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 3), t=st.integers(1, 12), v=st.integers(1, 6), m=st.integers(1, 2),
    seed=st.integers(0, 2**16), single=st.booleans(), codes=st.sampled_from([None, "12345"]),
)
def test_fuzz_shapes(n: int, t: int, v: int, m: int, seed: int, single: bool,
                     codes: str | None) -> None:
    layout = SkeletonLayout.from_edges("chain", v, [(j, j + 1) for j in range(v - 1)], center=0,
                                       flip_pairs=[(0, v - 1)] if v > 1 else [])
    view = extreme_view(codes, layout=layout)
    x = torch.randn(n, 3, t, v, m, generator=gen(seed), dtype=torch.float64)
    if single:
        x = x[0]
    out = view(x, generator=gen(seed))
    assert out.shape == x.shape and out.dtype == x.dtype
    ref = Compose(view.transforms, fuse=False)(x, generator=gen(seed))
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
    assert normal_view()(x, generator=gen(seed)).shape == x.shape


def test_a_seed_draws_the_same_views_for_every_input_dtype() -> None:
    # The noise is drawn in float32 whatever the input dtype, so every later draw (blur,
    # axis mask, both normal views) stays the same; only the rounding differs.
    x = batch(16, t=20)
    exact = torch.stack(AimCLRViews()(x.double(), generator=gen(3)))
    assert exact.dtype == torch.float64
    for dtype, tol in ((torch.float32, 1e-5), (torch.bfloat16, 0.05)):
        views = torch.stack(AimCLRViews()(x.to(dtype), generator=gen(3)))
        torch.testing.assert_close(views.double(), exact, rtol=tol, atol=tol * exact.abs().max())
