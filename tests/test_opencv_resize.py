"""``arithmetic="reference"``: the official scripts' float32 steps, bit for bit."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from script_loading import load_script

from aimclr.data import align_yaw, center_on_joint, preprocess_sample, resize_sequence
from aimclr.data._opencv_resize import fused_multiply_add_float32
from aimclr.errors import AimCLRError

ROOT = Path(__file__).resolve().parents[1]


def _bits(x: np.ndarray) -> np.ndarray:
    """The float32 bit patterns (so -0 and +0 differ)."""
    return np.ascontiguousarray(x, dtype=np.float32).view(np.int32)


def _round_to_float32(q: Fraction) -> np.float32:
    """The float32 nearest to the exact rational ``q``, ties to even."""
    guess = np.float32(float(q))
    candidates = [np.nextafter(guess, np.float32(-np.inf)), guess,
                  np.nextafter(guess, np.float32(np.inf))]
    def distance(c: np.float32) -> Fraction:
        return abs(Fraction(float(c)) - q)
    best = min(distance(c) for c in candidates)
    nearest = [c for c in candidates if distance(c) == best]
    return next(c for c in nearest if int(_bits(np.array([c]))[0]) % 2 == 0) \
        if len(nearest) > 1 else nearest[0]


def test_fused_multiply_add_rounds_once() -> None:
    # a + w * d = 1 + 2^-23 + 2^-24 - 2^-60: just below the midpoint between
    # 1 + 2^-23 and 1 + 2^-22. Rounding to float64 first lands on the midpoint and
    # ties to 1 + 2^-22; a single rounding gives 1 + 2^-23.
    a = np.array([1 + 2.0**-23], np.float32)
    w = np.array([1 + 2.0**-18], np.float32)
    d = np.array([(1 - 2.0**-18) * 2.0**-24], np.float32)
    assert (a.astype(np.float64) + w.astype(np.float64) * d).astype(np.float32)[0] == 1 + 2.0**-22
    assert fused_multiply_add_float32(w, d, a)[0] == np.float32(1 + 2.0**-23)
    # The same just below float32's normal range (the subnormal spacing 2^-149):
    # 2^-126 - 2^-149 + 2^-150 - 2^-186 rounds down, float64 first rounds it up.
    a = np.array([2.0**-126 - 2.0**-149], np.float32)
    w = np.array([(1 + 2.0**-18) * 2.0**-26], np.float32)
    d = np.array([(1 - 2.0**-18) * 2.0**-124], np.float32)
    assert (a.astype(np.float64) + w.astype(np.float64) * d).astype(np.float32)[0] == 2.0**-126
    assert fused_multiply_add_float32(w, d, a)[0] == a[0]
    rng = np.random.default_rng(0)
    a, w, d = (rng.normal(size=400) * 10.0 ** rng.integers(-6, 6, 400)).astype(np.float32), \
        rng.random(400).astype(np.float32), rng.normal(size=400).astype(np.float32)
    a[:100] *= np.float32(2.0**-125)  # results in float32's subnormal range
    d[:100] *= np.float32(2.0**-24)
    expected = [_round_to_float32(Fraction(float(ai)) + Fraction(float(wi)) * Fraction(float(di)))
                for ai, wi, di in zip(a, w, d, strict=True)]
    np.testing.assert_array_equal(_bits(fused_multiply_add_float32(w, d, a)),
                                  _bits(np.array(expected)))


def _opencv_loop(x: np.ndarray, length: int, frames: int) -> np.ndarray:
    """OpenCV's float32 INTER_LINEAR along axis 0, one output value at a time."""
    out = np.zeros((frames, *x.shape[1:]), np.float32)
    for i in range(frames):
        p = (i + 0.5) * (length / frames) - 0.5
        if length == 1:  # OpenCV's own code: float32 weights from the unclamped position
            f = np.float32(p) - np.float32(math.floor(np.float32(p)))
            out[i] = x[0] * (np.float32(1) - f) + x[0] * f
            continue
        k = math.floor(p)
        w = np.float32(p - k) if 0 <= k < length - 1 else np.float32(0)
        k = min(max(k, 0), length - 1)
        a, d = x[k], x[min(k + 1, length - 1)] - x[k]  # d rounded to float32
        for index in np.ndindex(*x.shape[1:]):
            exact = Fraction(float(a[index])) + Fraction(float(w)) * Fraction(float(d[index]))
            out[(i, *index)] = _round_to_float32(exact)
    return out


@pytest.mark.parametrize(("length", "frames"),
                         [(1, 50), (2, 50), (3, 50), (7, 50), (49, 50), (50, 50), (51, 50),
                          (123, 50), (300, 50), (9, 4), (30, 64)])
def test_reference_resize_matches_loop(length: int, frames: int) -> None:
    rng = np.random.default_rng(length)
    x = (rng.normal(size=(length + 2, 3, 2)) * [[1e-3, 1.0]] * 7).astype(np.float32)
    out = resize_sequence(x, frames, length=length, axis=0, arithmetic="reference")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(_bits(out), _bits(_opencv_loop(x, length, frames)))
    # The same along another axis, as the (C, T, V, M) samples are resized.
    moved = resize_sequence(np.moveaxis(x, 0, 1), frames, length=length, axis=1,
                            arithmetic="reference")
    np.testing.assert_array_equal(_bits(np.moveaxis(moved, 1, 0)), _bits(out))


def _fixture_script() -> ModuleType:
    return load_script(ROOT / "benchmarks" / "opencv_resize_fixture.py", "opencv_resize_fixture")


def test_reference_resize_matches_recorded_opencv() -> None:
    """Every length 1..300 at 50 frames and more: fingerprints of cv2.resize outputs."""
    script = _fixture_script()
    stored = json.loads((ROOT / "tests" / "data" / "opencv_resize.json").read_text())["sha256"]
    assert len(stored) == len(script.cases()) == 328
    differ = []
    for length, frames in script.cases():
        out = resize_sequence(script.fixture_input(length), frames, axis=0,
                              arithmetic="reference")
        if script.fingerprint(out) != stored[f"{length}->{frames}"]:
            differ.append((length, frames))
    assert differ == []


def _reference_yaw_loop(x: np.ndarray) -> np.ndarray:
    """The reference's per-person, per-frame float32 yaw alignment of (C, T, V, M)."""
    out = np.zeros_like(x, dtype=np.float32)
    for m in range(x.shape[3]):
        person = x[:, :, :, m]
        vec = person[:, :, 8] - person[:, :, 4]  # (3, T) float32
        vec[1] = 0
        cosine = vec[0] / (np.sqrt(np.sum(np.square(vec), axis=0)) + np.float32(1e-4))
        degrees = np.arccos(cosine) * np.float32(180 / np.pi)
        if np.sum(vec[2]) >= 0:
            degrees = -degrees
        for t in range(x.shape[1]):
            angle = degrees[t] * np.float32(np.pi) / np.float32(180)
            c, s = np.cos(angle), np.sin(angle)
            rotation = np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]], dtype=np.float64)
            out[:, t, :, m] = np.dot(rotation, person[:, t, :])
    return out


def test_reference_align_yaw_matches_per_person_loop() -> None:
    rng = np.random.default_rng(4)
    batch = rng.normal(size=(3, 3, 20, 25, 2)).astype(np.float32)
    batch[0, :, :, :, 1] = 0.0  # absent person: zeros stay +0
    batch[1, 2, :, 8, 0] = batch[1, 2, :, 4, 0]  # v_z = 0: the ">= 0" branch
    batch[2, :, 5:] *= np.float32(1e3)
    # Person 1 of sample 0: v_z sums to 0 in float32 (2^25 absorbs the -1 in the same
    # partial sum of numpy's pairwise summation) but to -1 exactly: the sign flips.
    batch[0, 2, :, 4, 1] = 0.0
    batch[0, 2, :, 8, 1] = 0.0
    batch[0, 2, [0, 8, 1], 8, 1] = [2.0**25, -1.0, -(2.0**25)]
    batch[0, 0, :, 8, 1] = 1.0
    out = align_yaw(batch, arithmetic="reference")
    expected = np.stack([_reference_yaw_loop(sample) for sample in batch])
    np.testing.assert_array_equal(_bits(out), _bits(expected))
    np.testing.assert_array_equal(_bits(align_yaw(batch[1], arithmetic="reference")),
                                  _bits(expected[1]))
    # float64 arithmetic agrees up to float32 rounding magnified by arccos near +-1,
    # apart from the person whose sign flips.
    plain = align_yaw(batch)
    scale = np.abs(out[1:]).max(axis=(1, 2, 3, 4), keepdims=True)
    assert np.all(np.abs(plain[1:] - out[1:]) <= 2e-3 * scale)
    assert np.abs(plain[0, :, :, :, 1] - out[0, :, :, :, 1]).max() > 1.0


def test_reference_chain_and_errors() -> None:
    rng = np.random.default_rng(5)
    full = np.zeros((3, 300, 25, 2), np.float32)
    full[:, :77] = rng.normal(size=(3, 77, 25, 2))
    centred = full - full[:, :, 20:21]  # float32, as the reference
    np.testing.assert_array_equal(_bits(center_on_joint(full)), _bits(centred))
    expected = align_yaw(resize_sequence(centred, 50, length=77, axis=1, arithmetic="reference"),
                         arithmetic="reference")
    np.testing.assert_array_equal(_bits(preprocess_sample(full, arithmetic="reference")),
                                  _bits(expected))
    for call in (lambda: resize_sequence(full, 50, arithmetic="float32"),  # type: ignore[arg-type]
                 lambda: align_yaw(full, arithmetic=None),  # type: ignore[arg-type]
                 lambda: preprocess_sample(full, arithmetic="exact")):  # type: ignore[arg-type]
        with pytest.raises(AimCLRError, match="arithmetic must be 'float64' or 'reference'"):
            call()
